"""Prometheus metrics in a registry of the app's own, so several apps in one process never collide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from server.disk import free_bytes


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "hs_http_requests_total",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hs_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

    def watch_disk(self, data_dir: Path) -> None:
        """``hs_disk_free_bytes``: free space of the data directory, read at each scrape."""
        gauge = Gauge(
            "hs_disk_free_bytes", "Free bytes on the data directory's filesystem.", registry=self.registry
        )
        gauge.set_function(lambda: free_bytes(data_dir))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def recorder(self, method: str, route: str, status: int) -> Callable[[float], None]:
        """``observe`` for one fixed set of labels, with the label lookups done once (hot paths)."""
        count = self.requests.labels(method, route, str(status)).inc
        latency = self.latency.labels(method, route).observe

        def record(seconds: float) -> None:
            count()
            latency(seconds)

        return record

    def render(self) -> bytes:
        return generate_latest(self.registry)
