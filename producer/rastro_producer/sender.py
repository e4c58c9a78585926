"""A confluent-kafka producer configured for the contract's guarantees.

acks=all + enable.idempotence: an acknowledged update is on min.insync.replicas brokers, and
retries can neither duplicate nor reorder one driver's updates (same key → same partition, and
the idempotent producer keeps per-partition order across retries).
"""

from __future__ import annotations

import json
import sys
import time
from functools import partial
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from confluent_kafka import KafkaError, Producer

from . import metrics
from .contract import serialize

DEFAULTS: dict[str, Any] = {
    "acks": "all",
    # Same partition as the Java clients for the same key (see partitioning.py).
    "partitioner": "murmur2_random",
    "enable.idempotence": True,
    "compression.type": "lz4",
    # librdkafka sends one partition per ProduceRequest, so a short linger means many small requests;
    # on the lab's two cores the brokers' per-request work then delays everything. Measured at
    # 10,000 updates/s end to end (bench/sink_bench.py, 20 s runs): freshness p50/p99 72/465 ms at
    # linger 10 ms, 35–57/161–278 ms at 20 ms, 35–43/139–185 ms at 30 ms. At the service's 250/s it
    # adds at most 30 ms.
    "linger.ms": 30,
    "batch.size": 262144,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 1000000,
    "queue.buffering.max.kbytes": 262144,
    "message.timeout.ms": 120000,
    # A leader cut off by the network (no RST, packets dropped) holds its in-flight requests until
    # the socket timeout, and the idempotent producer will not move a partition to the new leader
    # before they end: chaos.yml -e fault=isolate measured a 25-28 s stall with librdkafka's 60 s
    # default, 4.6 s with these. Retries are safe: the producer is idempotent.
    "request.timeout.ms": 3000,
    "socket.timeout.ms": 4000,
    # librdkafka asks again where a dead leader's partitions went only once a second; the new leader
    # is known ~2 s after a broker dies, so a query just before that cost a whole second in
    # chaos.yml -e fault=kill runs (1.3-1.4 s from the new leader being ready to the first ack;
    # 0.34-0.47 s in four of five runs with this). Four small Metadata requests a second per instance.
    "topic.metadata.refresh.interval.ms": 250,
    # Otherwise 3x the refresh interval: a topic whose metadata is 750 ms old would count as unknown.
    "metadata.max.age.ms": 60000,
}


# Delivery errors that say "this producer instance gave up", not "Kafka refused the update".
RESENDABLE = {KafkaError._FATAL, KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}
MAX_RECOVERIES_PER_MINUTE = 5


class FatalProducerError(RuntimeError):
    pass


@dataclass
class Stats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    keep_latencies: bool = False


class Sender:
    def __init__(self, bootstrap_servers: str, topic: str, extra: Optional[Mapping[str, Any]] = None,
                 on_ack: Optional[Callable[[Any], None]] = None, keep_latencies: bool = False) -> None:
        self.topic = topic
        self.stats = Stats(keep_latencies=keep_latencies)
        self.fatal: Optional[str] = None
        self.on_ack = on_ack
        self._published_sent = self._published_acked = 0
        self._pending_latencies: list[float] = []
        conf = dict(DEFAULTS, **(extra or {}))
        conf["bootstrap.servers"] = bootstrap_servers
        conf["error_cb"] = self._on_error
        self._conf = conf
        # (sequence, key, value) of updates a dead instance did not deliver; re-sent in sequence order.
        self._resend: list[tuple[int, bytes, Optional[bytes]]] = []
        self._seq = 0
        self._recoveries: list[float] = []
        self.recoveries = 0
        self.producer = Producer(conf)
        # Delivery reports carry the generation of the producer instance that sent them, so a late
        # report from a replaced instance is never mistaken for the current one's verdict, and the
        # update's sequence number: librdkafka reports purged updates in no guaranteed order (2.8
        # reports a partition's newest queue before the batch already handed to its broker thread).
        self._generation = 0

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = f"fatal Kafka error: {err.str()}"
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            print(f"warning: all brokers down ({err.str()}); retrying", file=sys.stderr)

    def _on_delivery(self, generation: int, seq: int, err: Optional[KafkaError], msg: Any) -> None:
        if err is not None:
            if generation != self._generation:
                # A replaced instance reporting after it was drained: its verdict does not count.
                self._enqueue(msg.key(), msg.value())
                return
            if self.fatal or err.fatal() or err.code() in RESENDABLE:
                # Not delivered because the producer instance died, not because Kafka refused the
                # update: keep it, in order, for the replacement producer.
                self._resend.append((seq, msg.key(), msg.value()))
                return
            self.stats.failed += 1
            metrics.FAILED.labels(reason=err.name()).inc()
            return
        self.stats.acked += 1
        self._pending_latencies.append(msg.latency() or 0.0)
        if self.on_ack is not None:
            self.on_ack(msg)

    def send(self, key: str, update: Optional[Mapping[str, Any]]) -> None:
        """Validate and enqueue; a tombstone when update is None. Raises ContractError."""
        if update is None:
            k, v = key.encode(), None
        else:
            k, v = serialize(update, key)
        self.send_raw(k, v)

    def send_raw(self, key: bytes, value: Optional[bytes]) -> None:
        """Enqueue already-validated bytes (the hot path of `run`)."""
        if self.fatal:
            self._recover()
        self._enqueue(key, value)
        self.stats.sent += 1

    def _enqueue(self, key: bytes, value: Optional[bytes]) -> None:
        while True:
            try:
                self._seq += 1
                self.producer.produce(self.topic, key=key, value=value,
                                      on_delivery=partial(self._on_delivery, self._generation, self._seq))
                return
            except BufferError:
                # Local queue full: serve delivery reports until there is room.
                self.producer.poll(0.05)

    def _publish_counts(self) -> None:
        # Counters are published in bulk, not per message: a locked inc() per update would cost
        # more than producing it.
        if self._pending_latencies:
            metrics.LATENCY.observe_many(self._pending_latencies)
            if self.stats.keep_latencies:
                self.stats.latencies.extend(self._pending_latencies)
            self._pending_latencies = []
        metrics.SENT.inc(self.stats.sent - self._published_sent)
        metrics.ACKED.inc(self.stats.acked - self._published_acked)
        self._published_sent, self._published_acked = self.stats.sent, self.stats.acked
        metrics.QUEUE.set(len(self.producer))

    def poll(self, timeout: float = 0) -> None:
        self.producer.poll(timeout)
        self._publish_counts()
        if self.fatal:
            self._recover()

    def _recover(self) -> None:
        """Replace a producer that hit a fatal error and re-send what it had not delivered.

        The idempotent producer turns some broker-side surprises into a fatal error (librdkafka does
        so for an out-of-order sequence after a leader change). The instance is then unusable, but
        nothing it holds is lost: its undelivered updates are purged, collected by _on_delivery and
        produced again by a new instance in their original order. An update whose acknowledgement was
        lost may be written twice; the sink's stale-write guard makes that harmless."""
        now = time.monotonic()
        self._recoveries = [t for t in self._recoveries if now - t < 60] + [now]
        if len(self._recoveries) > MAX_RECOVERIES_PER_MINUTE:
            raise FatalProducerError(f"{self.fatal} ({len(self._recoveries)} fatal errors within a minute; giving up)")
        print(f"warning: {self.fatal or 'a fatal error'}; replacing the producer and re-sending its undelivered updates",
              file=sys.stderr)
        old = self.producer
        old.purge(in_queue=True, in_flight=False)
        # In-flight requests are left to finish: each ends acknowledged or reported failed, and
        # every report is served here, before the instance is dropped.
        old.flush(30)
        self.fatal = None
        self._generation += 1
        self.recoveries += 1
        metrics.RECOVERIES.inc()
        self.producer = Producer(self._conf)
        resend, self._resend = sorted(self._resend, key=lambda r: r[0]), []
        for _, key, value in resend:
            self._enqueue(key, value)

    def flush(self, timeout: float) -> int:
        """Wait for outstanding acknowledgements; returns how many are still pending."""
        deadline = time.monotonic() + timeout
        while True:
            pending = self.producer.flush(max(deadline - time.monotonic(), 0))
            self._publish_counts()
            # A fatal error while flushing leaves undelivered updates in _resend, not in the queue.
            if not (self.fatal or self._resend) or time.monotonic() >= deadline:
                return pending + len(self._resend)
            self._recover()


def encode(update: Mapping[str, Any]) -> bytes:
    return json.dumps(update, separators=(",", ":")).encode()
