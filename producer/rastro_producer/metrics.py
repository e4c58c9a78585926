"""Prometheus metrics of the producer (port 8000 by default, docs/contracts.md)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from typing import Iterable, Iterator, Optional

from prometheus_client import REGISTRY, Counter, Gauge

from . import metrics_http
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

SENT = Counter("rastro_producer_messages_sent_total", "Updates handed to the Kafka client")
ACKED = Counter("rastro_producer_messages_acknowledged_total", "Updates acknowledged by the brokers (acks=all)")
FAILED = Counter("rastro_producer_messages_failed_total", "Updates whose delivery failed", ["reason"])
# Export the usual failure from the start (at 0), so an alert or panel on it has a series to read.
FAILED.labels(reason="_MSG_TIMED_OUT")
RECOVERIES = Counter("rastro_producer_fatal_recoveries_total",
                     "Producer instances replaced after a fatal client error (their undelivered updates re-sent)")
REJECTED = Counter("rastro_producer_messages_rejected_total", "Updates refused by contract validation", ["field"])


class BulkHistogram(Collector):
    """A histogram fed in bulk: observe_many() takes a batch of delivery latencies at once.

    prometheus_client's Histogram.observe() takes a lock and walks the buckets for every value,
    which at tens of thousands of updates per second cost more than producing them.
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name, self.documentation, self.buckets = name, documentation, buckets
        self._counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        values = list(values)
        counts = [0] * len(self._counts)
        for v in values:
            counts[bisect_left(self.buckets, v)] += 1
        with self._lock:
            for i, c in enumerate(counts):
                self._counts[i] += c
            self._sum += sum(values)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, c in zip((*(str(b) for b in self.buckets), "+Inf"), counts):
            running += c
            cumulative.append((bound, running))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=cumulative, sum_value=total)


LATENCY = BulkHistogram("rastro_producer_delivery_latency_seconds", "From produce() to broker acknowledgement",
                        (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
REGISTRY.register(LATENCY)
QUEUE = Gauge("rastro_producer_queue_depth", "Updates waiting in the client for acknowledgement")
RATE = Gauge("rastro_producer_target_rate", "Configured updates per second")
DRIVERS = Gauge("rastro_producer_drivers", "Drivers simulated (what Redis should hold, less deactivated ones)")


def serve(port: int, addr: str = "0.0.0.0", tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
          users_file: Optional[str] = None) -> None:
    """The metrics endpoint (0: none); HTTPS and basic authentication as metrics_http.serve()."""
    if port:
        metrics_http.serve(port, addr, REGISTRY, tls_cert, tls_key, users_file)
