"""CRC-32C and CRC-64/NVME, the two S3 checksums the standard library lacks.

S3 accepts ``x-amz-checksum-crc32c`` and ``x-amz-checksum-crc64nvme`` (the
latter is what recent AWS SDKs default to for some uploads). The stdlib has
CRC-32 (``zlib.crc32``) but neither of these; the only well-kept native
implementation on PyPI that covers both, ``awscrt``, also switches botocore to
its own signers when installed, which would change how every boto client in
the process signs. These are table-driven, byte-at-a-time implementations of
the reflected algorithms (parameters from the RevEng CRC catalogue), checked
against published vectors in the tests. They manage a few MB/s, which is enough
for the clients that pick these algorithms explicitly (Terraform sends SHA-256,
boto3 CRC-32); callers hash large bodies off the event loop.
"""

from __future__ import annotations

from typing import Final


def _reflected_table(polynomial: int) -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


# Reflected forms of the generator polynomials 0x1EDC6F41 and 0xAD93D23594C93659.
_CRC32C_TABLE: Final = _reflected_table(0x82F63B78)
_CRC64NVME_TABLE: Final = _reflected_table(0x9A6C9329AC4BC9B5)
_MASK32: Final = 0xFFFFFFFF
_MASK64: Final = 0xFFFFFFFFFFFFFFFF


def crc32c(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``value`` (like ``zlib.crc32``)."""
    table = _CRC32C_TABLE
    crc = value ^ _MASK32
    for byte in bytes(data) if isinstance(data, memoryview) else data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK32


def crc64nvme(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-64/NVME of ``data``, continuing from ``value`` (the same convention as ``crc32c``)."""
    table = _CRC64NVME_TABLE
    crc = value ^ _MASK64
    for byte in bytes(data) if isinstance(data, memoryview) else data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK64
