"""Prometheus metrics at ``GET /metrics`` (prometheus-client), per process.

Three sources feed one registry per app (``Metrics``), which
``taco_http.metrics_routes`` serves:

- HTTP: ``taco_http.telemetry`` counts and times every request by route
  *template* (``/v1/units/{id}/lock``, never the raw path: unit IDs would
  make a series per unit), method and status, and counts refused
  credentials by kind;
- the domain: ``MetricsSink``, an ``EventSink`` on ``Services.events``,
  counts commits, quarantined writes, locks, lock conflicts and denials, and
  times lock waits, from the events the core publishes;
- the storage: ``metered`` wraps each storage port and times its calls
  (commit latency per storage is ``operation="commit"``) and counts their
  failures (S3 errors are ``storage="s3"``);
- connections: what ``taco_http.connections`` counted of the connections
  it dropped before any request reached the app (too many, too slow).

The core knows nothing of this. Every process serves its own numbers:
replicas on one SQLite file or one bucket are scraped one by one and summed
by Prometheus.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from taco_core.errors import StorageUnavailable
from taco_core.events import (
    AccessDenied,
    Event,
    LockAcquired,
    LockRefused,
    LockReleased,
    StateCommitted,
    WriteRefused,
)
from taco_http.connections import CONNECTIONS, ConnectionStats

T = TypeVar("T")

# Request latencies: a probe takes a millisecond, a large state upload seconds.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Storage calls: a SQLite read takes tens of microseconds, an fsync or an S3
# round trip milliseconds.
_STORAGE_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)
_WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600)
# Units with a refused LOCK being waited for; past this the oldest is forgotten.
_MAX_WAITING = 10_000


class Metrics:
    """Every metric of one service, in a registry of its own (so tests can
    run several apps in one process)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.requests = Counter(
            "opentaco_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "opentaco_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["route", "method"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self._answered: dict[tuple[str, str, int], Counter] = {}
        self._timed: dict[tuple[str, str], Histogram] = {}
        # Counted as a plain int on every request (one event loop, so no lock)
        # and read by the gauge only when scraped.
        self.requests_in_flight = 0
        self.in_flight = Gauge(
            "opentaco_http_requests_in_flight", "Requests being served now.", registry=r
        )
        self.in_flight.set_function(lambda: self.requests_in_flight)
        self.auth_failures = Counter(
            "opentaco_auth_failures",
            "Requests refused for their credential (401, by the kind of credential sent; "
            "s3 and s3_expired for the S3 endpoint's signatures) or for their permissions "
            "(403, kind forbidden).",
            ["kind"],
            registry=r,
        )
        self.access_denied = Counter(
            "opentaco_access_denied",
            "Actions authorization refused, by action.",
            ["action"],
            registry=r,
        )
        self.commits = Counter(
            "opentaco_state_commits",
            "States that became current, by storage and surface (backend, api, restore ...).",
            ["storage", "surface"],
            registry=r,
        )
        self.quarantined = Counter(
            "opentaco_writes_quarantined",
            "Writes the clobber guard refused and kept as quarantined versions.",
            ["storage"],
            registry=r,
        )
        self.locks_acquired = Counter("opentaco_locks_acquired", "Locks granted.", registry=r)
        self.locks_released = Counter(
            "opentaco_locks_released",
            "Locks released, forced (force-unlock) or by their holder.",
            ["forced"],
            registry=r,
        )
        self.lock_conflicts = Counter(
            "opentaco_lock_conflicts",
            "Operations refused because someone else holds the unit's lock, by operation "
            "(lock, write, unlock, delete).",
            ["operation"],
            registry=r,
        )
        self.lock_wait_seconds = Histogram(
            "opentaco_lock_wait_seconds",
            "From the first refused LOCK of a unit to the next granted one (as this "
            "process saw them).",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.storage_seconds = Histogram(
            "opentaco_storage_operation_duration_seconds",
            "Time of each storage call, by storage and operation (commit: a state write).",
            ["storage", "operation"],
            buckets=_STORAGE_BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "opentaco_storage_errors",
            "Storage calls that failed (S3 errors are storage=s3), by storage and operation.",
            ["storage", "operation"],
            registry=r,
        )
        self.audit_failures = Counter(
            "opentaco_audit_append_failures",
            "Times audit records could not be written (they are retried, or dropped when "
            "too many wait; the log says which).",
            registry=r,
        )
        r.register(ConnectionCollector(CONNECTIONS))

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP answer and its time. Called for every request, so
        each series (route template, method, status: a bounded set) is
        looked up in the registry once, then kept."""
        counted = self._answered.get((route, method, status))
        if counted is None:
            counted = self.requests.labels(route, method, str(status))
            self._answered[route, method, status] = counted
        counted.inc()
        timed = self._timed.get((route, method))
        if timed is None:
            timed = self._timed[route, method] = self.request_seconds.labels(route, method)
        timed.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ConnectionCollector:
    """Reports ``ConnectionStats`` when scraped (the protocol counts without
    knowing of Prometheus)."""

    def __init__(self, stats: ConnectionStats) -> None:
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "opentaco_connections_open",
            "HTTP connections open now (zero when not served by opentacosvc's protocol).",
            value=self.stats.open,
        )
        dropped = CounterMetricFamily(
            "opentaco_connections_dropped",
            "Connections dropped before a request reached the service, by reason: too_many "
            "(503, OPENTACO_MAX_CONNECTIONS), header_timeout (408, OPENTACO_READ_TIMEOUT), "
            "headers_too_large (431), body_stalled.",
            labels=["reason"],
        )
        for reason in ("too_many", "header_timeout", "headers_too_large", "body_stalled"):
            dropped.add_metric([reason], self.stats.dropped[reason])
        yield dropped
        yield CounterMetricFamily(
            "opentaco_accept_failures",
            "Failed accept() calls: the process ran out of file descriptors.",
            value=self.stats.accept_failures,
        )


class MetricsSink:
    """An ``EventSink`` that counts what the use cases publish."""

    def __init__(self, metrics: Metrics, storage: str) -> None:
        self.metrics = metrics
        self.storage = storage
        self._waiting: dict[str, datetime] = {}

    async def publish(self, event: Event) -> None:
        m = self.metrics
        match event:
            case StateCommitted(version=version):
                m.commits.labels(self.storage, version.surface or "unknown").inc()
            case WriteRefused():
                m.quarantined.labels(self.storage).inc()
            case LockRefused(operation=operation):
                m.lock_conflicts.labels(operation).inc()
                if operation == "lock":
                    self._wait_started(event.unit_id, event.at)
            case LockAcquired():
                m.locks_acquired.inc()
                started = self._waiting.pop(event.unit_id, None)
                if started is not None:
                    m.lock_wait_seconds.observe(max(0.0, (event.at - started).total_seconds()))
            case LockReleased(forced=forced):
                m.locks_released.labels(str(forced).lower()).inc()
            case AccessDenied(action=action):
                m.access_denied.labels(action).inc()

    def _wait_started(self, unit_id: str, at: datetime) -> None:
        if unit_id in self._waiting:
            return
        if len(self._waiting) >= _MAX_WAITING:
            del self._waiting[next(iter(self._waiting))]
        self._waiting[unit_id] = at


class _Metered:
    """Times every coroutine method of ``inner`` and counts its failures."""

    def __init__(self, inner: object, storage: str, metrics: Metrics, port: str) -> None:
        self._inner = inner
        self._storage = storage
        self._metrics = metrics
        self._prefix = f"{port}_" if port else ""
        self._timed: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        timed = self._timed.get(name)
        if timed is not None:
            return timed
        found = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(found) or name == "aclose":
            return found
        timed = self._timed[name] = self._wrap(name, found)
        return timed

    def _wrap(self, name: str, found: Any) -> Any:
        operation = self._prefix + name
        seconds = self._metrics.storage_seconds.labels(self._storage, operation)
        failures = self._metrics.storage_errors.labels(self._storage, operation)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await found(*args, **kwargs)
            except StorageUnavailable:
                failures.inc()
                raise
            finally:
                seconds.observe(time.perf_counter() - started)

        return timed


def metered(inner: T, storage: str, metrics: Metrics, *, port: str = "") -> T:
    """``inner`` (a storage port) with every call timed and its failures
    counted under ``storage``; it still is the port it was. The operation is
    the method's name, prefixed ``<port>_`` when a ``port`` is named (ports
    whose methods share names, such as ``load``, are told apart so)."""
    return cast(T, _Metered(inner, storage, metrics, port))
