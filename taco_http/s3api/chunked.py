"""Incremental decoding of ``aws-chunked`` request bodies, signatures and trailer included.

Streaming uploads wrap the object in S3's own chunk framing, inside whatever
HTTP framing carried the request::

    <hex-size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n   ... one or more chunks
    0[;chunk-signature=<sig>]\\r\\n                        the empty last chunk
    [<trailer-name>:<value>\\r\\n ...]                      trailers (the ``-TRAILER`` modes)
    [x-amz-trailer-signature:<sig>\\r\\n]                   signed trailers only
    \\r\\n

With ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER)`` every chunk signature
chains from the previous one, starting at the request's seed signature, so
chunks can be neither altered, dropped, reordered nor extended; the trailer
signature chains from the last chunk's. The decoder is fed bytes as they
arrive, keeps at most one framing line buffered besides data in flight, and
fails with an ``S3Error`` at the first byte that breaks the framing, the
length, a signature or the caps, so a hostile body is refused before it is
all read. Bytes it has returned are only trustworthy once ``finish`` returns.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from typing import Final

from taco_http.s3api.errors import (
    IncompleteBody,
    InvalidRequest,
    SignatureDoesNotMatch,
)
from taco_http.s3api.sigv4 import PayloadMode, SigningContext

MAX_LINE: Final = 4096  # a chunk header or trailer line, CRLF excluded
MAX_TRAILER: Final = 16 * 1024
# Framing allowed beyond the object: enough for 64-byte unsigned or 700-byte
# signed chunks, far below what any SDK sends (64 KiB to 1 MiB), and a bound on
# the per-chunk work a client can ask for.
FRAMING_ALLOWANCE: Final = 64 * 1024
FRAMING_PER_OBJECT_BYTE: Final = 1 / 8

TRAILER_SIGNATURE: Final = "x-amz-trailer-signature"

_UNSIGNED_SIZE = re.compile(rb"([0-9a-fA-F]{1,16})")
_SIGNED_SIZE = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})")
_TRAILER_LINE = re.compile(rb"([A-Za-z0-9-]+):[ \t]*([\x21-\x7e]*)[ \t]*")


class _State(enum.Enum):
    SIZE = enum.auto()
    DATA = enum.auto()
    DATA_END = enum.auto()
    TRAILER = enum.auto()
    DONE = enum.auto()


def _malformed(detail: str) -> InvalidRequest:
    return InvalidRequest(f"The aws-chunked body is malformed: {detail}.")


class AwsChunkedDecoder:
    """Decodes one ``aws-chunked`` body fed in pieces; see the module docstring.

    ``trailer_names`` are the trailers ``x-amz-trailer`` announced (exactly
    those must arrive); ``signing`` is required for the signed modes.
    """

    def __init__(
        self,
        mode: PayloadMode,
        decoded_length: int,
        *,
        signing: SigningContext | None = None,
        trailer_names: frozenset[str] = frozenset(),
    ) -> None:
        if not mode.aws_chunked:
            raise ValueError(f"{mode} is not an aws-chunked payload mode")
        if mode.signed_chunks and signing is None:
            raise ValueError(f"{mode} needs the request's signing context")
        self._mode = mode
        self._signing = signing
        self._expected = decoded_length
        self._trailer_names = trailer_names if mode.trailer else frozenset()
        self._framing_budget = FRAMING_ALLOWANCE + int(decoded_length * FRAMING_PER_OBJECT_BYTE)
        self._framing = 0
        self._buffer = bytearray()
        self._state = _State.SIZE
        self._decoded = 0
        self._chunk_left = 0
        self._chunk_hash = hashlib.sha256()
        self._chunk_signature = ""
        self._previous = signing.seed_signature if signing is not None else ""
        self._trailer_bytes = 0
        self._trailers: dict[str, str] = {}
        self._trailer_signature: str | None = None

    @property
    def done(self) -> bool:
        """The terminating empty line has been read."""
        return self._state is _State.DONE

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data``; the object bytes it completed, in order."""
        out: list[bytes] = []
        self._buffer += data
        buffer = self._buffer
        pos = 0
        end = len(buffer)
        while pos < end:
            state = self._state
            if state is _State.DATA:
                take = min(self._chunk_left, end - pos)
                piece = bytes(buffer[pos : pos + take])
                pos += take
                self._chunk_left -= take
                if self._mode.signed_chunks:
                    self._chunk_hash.update(piece)
                out.append(piece)
                if self._chunk_left == 0:
                    self._state = _State.DATA_END
            elif state is _State.DATA_END:
                if end - pos < 2:
                    break
                if buffer[pos : pos + 2] != b"\r\n":
                    raise _malformed("chunk data is not followed by CRLF")
                pos += 2
                self._count_framing(2)
                self._end_chunk()
                self._state = _State.SIZE
            elif state is _State.DONE:
                raise _malformed("data follows the end of the body")
            else:
                newline = buffer.find(b"\r\n", pos, pos + MAX_LINE + 2)
                if newline < 0:
                    if end - pos > MAX_LINE + 1:
                        raise _malformed("a chunk header or trailer line is too long")
                    break
                line = bytes(buffer[pos:newline])
                pos = newline + 2
                self._count_framing(len(line) + 2)
                if state is _State.SIZE:
                    self._size_line(line)
                else:
                    self._trailer_line(line)
        del buffer[:pos]
        return out

    def finish(self) -> dict[str, str]:
        """Check the body ended where it should; the trailers received (names lower-case)."""
        if self._state is not _State.DONE:
            raise IncompleteBody("The request body ended before the aws-chunked body was complete.")
        return dict(self._trailers)

    def _count_framing(self, size: int) -> None:
        self._framing += size
        if self._framing > self._framing_budget:
            raise _malformed("too much framing for the object's size (chunks too small)")

    def _size_line(self, line: bytes) -> None:
        if self._mode.signed_chunks:
            match = _SIGNED_SIZE.fullmatch(line)
            if match is None:
                raise _malformed("expected <hex-size>;chunk-signature=<signature>")
            self._chunk_signature = match.group(2).decode()
        else:
            match = _UNSIGNED_SIZE.fullmatch(line)
            if match is None:
                raise _malformed("expected a hexadecimal chunk size")
        size = int(match.group(1), 16)
        if self._decoded + size > self._expected:
            raise _malformed(
                f"the chunks hold more than x-amz-decoded-content-length ({self._expected}) bytes"
            )
        self._decoded += size
        if size:
            self._chunk_left = size
            self._state = _State.DATA
            return
        self._end_chunk()  # the empty last chunk is signed like any other
        if self._decoded != self._expected:
            raise IncompleteBody(
                f"The aws-chunked body holds {self._decoded} bytes but "
                f"x-amz-decoded-content-length is {self._expected}."
            )
        self._state = _State.TRAILER

    def _end_chunk(self) -> None:
        if not self._mode.signed_chunks:
            return
        assert self._signing is not None
        expected = self._signing.chunk_signature(self._previous, self._chunk_hash.hexdigest())
        if not hmac.compare_digest(expected, self._chunk_signature):
            raise SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided.",
                ChunkSignatureProvided=self._chunk_signature,
            )
        self._previous = self._chunk_signature
        self._chunk_hash = hashlib.sha256()

    def _trailer_line(self, line: bytes) -> None:
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER:
            raise _malformed("the trailer is too large")
        if not line:
            self._end_trailer()
            return
        if self._trailer_signature is not None:
            raise _malformed(f"{TRAILER_SIGNATURE} must be the last trailer")
        match = _TRAILER_LINE.fullmatch(line)
        if match is None:
            raise _malformed("a trailer line is not <name>:<value>")
        name = match.group(1).decode().lower()
        value = match.group(2).decode()
        if name == TRAILER_SIGNATURE and self._mode is PayloadMode.STREAMING_SIGNED_TRAILER:
            self._trailer_signature = value
            return
        if name not in self._trailer_names:
            raise _malformed(f"trailer {name} was not announced in x-amz-trailer")
        if name in self._trailers:
            raise _malformed(f"trailer {name} is sent twice")
        self._trailers[name] = value

    def _end_trailer(self) -> None:
        missing = sorted(self._trailer_names - self._trailers.keys())
        if missing:
            raise IncompleteBody(f"The trailer {', '.join(missing)} announced was not sent.")
        if self._mode is PayloadMode.STREAMING_SIGNED_TRAILER:
            assert self._signing is not None
            if self._trailer_signature is None:
                raise _malformed(f"the trailer has no {TRAILER_SIGNATURE}")
            canonical = "".join(
                f"{name}:{self._trailers[name]}\n" for name in sorted(self._trailers)
            )
            expected = self._signing.trailer_signature(self._previous, canonical.encode())
            if not hmac.compare_digest(expected, self._trailer_signature):
                raise SignatureDoesNotMatch(
                    "The trailer signature we calculated does not match the signature you "
                    "provided.",
                    TrailerSignatureProvided=self._trailer_signature,
                )
        self._state = _State.DONE
