"""A test certificate authority (trustme) and a server certificate from it,
as PEM files: what ``opentacosvc --tls-cert/--tls-key`` serves and what
clients (``SSL_CERT_FILE`` for Terraform, ``verify=`` for httpx) trust."""

from __future__ import annotations

import ssl
from pathlib import Path

import attrs
import trustme


@attrs.frozen
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def args(self) -> list[str]:
        """``opentacosvc`` flags that serve this certificate."""
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]

    def context(self) -> ssl.SSLContext:
        """A client context trusting the test CA."""
        return ssl.create_default_context(cafile=self.ca)


def issue(directory: Path, *names: str) -> TlsFiles:
    """A fresh CA and a certificate for ``names`` (default localhost and
    127.0.0.1), written under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert(*(names or ("localhost", "127.0.0.1")))
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    files.cert.write_bytes(b"".join(pem.bytes() for pem in issued.cert_chain_pems))
    return files
