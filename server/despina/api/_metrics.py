"""Prometheus metrics of one server process (``despina server --metrics-port``; off by default).

They are served on a port of their own (``--metrics-host``, default 127.0.0.1), not beside the
protocol: ``/metrics`` has no login, and what it shows (request rates per route, pool use) is for
the operator's scraper, not for every client that can reach the API. prometheus-client is the
``metrics`` extra, imported only when metrics are asked for.

* ``despina_http_requests_total{route,method,status}`` and
  ``despina_http_request_duration_seconds{route,method}`` (histogram): every request, by route
  template (never the raw path).
* ``despina_ingest_snapshots_total``: snapshots applied (each a step's points of one run, or a
  config or tag update); ``rate()`` of it is the ingest rate in points-steps per second.
* ``despina_ingest_in_flight``: ``/ingest`` requests received and not yet answered (the queue in
  front of the store's write lock).
* ``despina_db_pool_connections{pool,state}``: PostgreSQL connections ``in_use`` and ``size`` per
  pool (``read``, ``write``); absent for SQLite.
* ``despina_file_bytes_total{direction}``: file bytes through this process (``in``: PUT to
  ``/storage``, ``out``: GET from it); files of a bucket go by pre-signed URL and do not count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["ServerMetrics", "count_file_bytes"]

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServerMetrics:
    """One registry per app, so two apps in one test process do not share counters."""

    def __init__(self, stores: Callable[[], list[Any]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "despina_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "despina_http_request_duration_seconds",
            "time from request to the end of the answer",
            ["route", "method"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "despina_ingest_in_flight", "/ingest requests not yet answered", registry=self.registry
        )
        self.file_bytes = Counter(
            "despina_file_bytes",
            "file bytes through this process",
            ["direction"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(stores))

    def ingest_gauge(self, change: int) -> None:
        self.in_flight.inc(change)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def serve(self, host: str, port: int) -> int:
        """Serve ``/metrics`` on ``host:port`` in a daemon thread; returns the port."""
        from prometheus_client import start_http_server

        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_address[1])


class _StoreCollector:
    """Read at scrape time: the stores' snapshot counters and the pools' use."""

    def __init__(self, stores: Callable[[], list[Any]]) -> None:
        self._stores = stores

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stores = self._stores()
        snapshots = CounterMetricFamily(
            "despina_ingest_snapshots", "snapshots applied to the store by this process"
        )
        snapshots.add_metric([], sum(getattr(s, "snapshots_applied", 0) for s in stores))
        yield snapshots
        pools = GaugeMetricFamily(
            "despina_db_pool_connections",
            "PostgreSQL connections per pool: in use and pool size",
            labels=["pool", "state"],
        )
        usage = getattr(stores[0].engine, "pool_usage", None) if stores else None
        for pool, (in_use, size) in (usage() if callable(usage) else {}).items():
            pools.add_metric([pool, "in_use"], in_use)
            pools.add_metric([pool, "size"], size)
        yield pools


def count_file_bytes(state: Any, direction: str, size: int) -> None:
    """Add ``size`` file bytes (``in`` or ``out``) to the app's metrics, when they are on."""
    metrics: ServerMetrics | None = getattr(state, "metrics", None)
    if metrics is not None and size:
        metrics.file_bytes.labels(direction).inc(size)
