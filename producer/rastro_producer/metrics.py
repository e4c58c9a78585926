"""Prometheus metrics of the producer (port 8000 by default, shared/CONTRACTS.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

SENT = Counter("rastro_producer_messages_sent_total", "Updates handed to the Kafka client")
ACKED = Counter("rastro_producer_messages_acknowledged_total", "Updates acknowledged by the brokers (acks=all)")
FAILED = Counter("rastro_producer_messages_failed_total", "Updates whose delivery failed", ["reason"])
REJECTED = Counter("rastro_producer_messages_rejected_total", "Updates refused by contract validation", ["field"])
LATENCY = Histogram("rastro_producer_delivery_latency_seconds", "From produce() to broker acknowledgement",
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
QUEUE = Gauge("rastro_producer_queue_depth", "Updates waiting in the client for acknowledgement")
RATE = Gauge("rastro_producer_target_rate", "Configured updates per second")


def serve(port: int, addr: str = "0.0.0.0") -> None:
    if port:
        start_http_server(port, addr=addr)
