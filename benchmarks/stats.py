"""Latency statistics (pure functions, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypedDict


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between the
    closest ranks, as ``numpy.percentile`` computes it by default."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0 and 100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Summary(TypedDict):
    """One measured cell: counts, throughput and latency in milliseconds."""

    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float


def summarize(latencies: Sequence[float], seconds: float, errors: int = 0) -> Summary:
    """Summarize per-request latencies (seconds) over a wall time of ``seconds``."""
    if not latencies:
        nan = float("nan")
        return Summary(
            requests=0, errors=errors, seconds=seconds, rps=0.0,
            p50_ms=nan, p99_ms=nan, mean_ms=nan, max_ms=nan,
        )  # fmt: skip
    return Summary(
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        rps=len(latencies) / seconds if seconds > 0 else float("inf"),
        p50_ms=percentile(latencies, 50) * 1000.0,
        p99_ms=percentile(latencies, 99) * 1000.0,
        mean_ms=sum(latencies) / len(latencies) * 1000.0,
        max_ms=max(latencies) * 1000.0,
    )


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when either is missing or zero."""
    if not denominator or math.isnan(denominator) or math.isnan(numerator):
        return float("nan")
    return numerator / denominator
