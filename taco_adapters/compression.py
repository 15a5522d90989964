"""How the durable stores keep superseded versions small.

A Terraform state changes little from one version to the next, so the
cheapest way to keep a history is each version as a zstd *delta* against the
version that replaced it (zstd with the newer bytes as a raw-content
dictionary): 100 versions of a slowly changing 1 MB state then take about as
much as one. A standalone zstd frame (about 15% of a real state) is used
where a delta cannot be: a version nobody replaced (quarantined), a state too
large to hold twice in memory, and every ``KEYFRAME``-th version so that
reading an old version never decodes more than a short chain.

The current version is always stored whole: it is what every read serves.
"""

from __future__ import annotations

import zstandard

from taco_core.model import Payload

# zstd level 3: the default, and the lowest at which a delta finds the long
# matches against its dictionary (level 2 leaves a delta 100x larger).
LEVEL = 3
# Versions numbered a multiple of this are compressed alone, which bounds a
# chain of deltas (each against the next newer version) to this many steps.
KEYFRAME = 16
# Past this size a version is compressed alone and streamed: a delta needs the
# version and its base whole in memory at once.
DELTA_LIMIT = 16 * 1024 * 1024


def compress(data: Payload) -> bytes:
    """A standalone zstd frame of ``data`` (its size recorded in the frame)."""
    return zstandard.ZstdCompressor(level=LEVEL).compress(data)


def compress_delta(data: Payload, base: Payload) -> bytes:
    """``data`` as a zstd frame that needs ``base`` to decode."""
    dictionary = zstandard.ZstdCompressionDict(
        bytes(base), dict_type=zstandard.DICT_TYPE_RAWCONTENT
    )
    return zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary).compress(data)


def decompress(frame: Payload) -> bytes:
    """The bytes of a standalone frame (frames written here record their size)."""
    return zstandard.ZstdDecompressor().decompress(frame)


def decompress_delta(frame: Payload, base: Payload) -> bytes:
    """The bytes of a delta frame, given the bytes of its base."""
    dictionary = zstandard.ZstdCompressionDict(
        bytes(base), dict_type=zstandard.DICT_TYPE_RAWCONTENT
    )
    return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(frame)


def compressor(size: int) -> zstandard.ZstdCompressionObj:
    """An incremental standalone compressor of ``size`` bytes (recorded in
    the frame), for versions read in slices."""
    return zstandard.ZstdCompressor(level=LEVEL).compressobj(size=size)
