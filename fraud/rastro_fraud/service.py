"""The decision service: exactly one decision per transaction, across crashes.

Every instance is a member of one consumer group over ``card-transactions`` and ``fraud-feedback``.
Each batch it consumes is one Kafka transaction: the decisions, the dead-lettered transactions, the
blocklist entries its flags cause, the suspicious records and the group's offsets commit together
or not at all (KIP-447: the transactional producer fences by the group's generation, so a zombie
instance cannot commit after its partitions moved). Readers of what it writes use
``isolation.level=read_committed``.

Beside the group, each instance reads the three blocklists and the site reference data whole
(every partition from the beginning, no group): a complete local view, so the immediate answer is a
dict lookup. The card feature state of a partition it is given is rebuilt from the partition's
last ``warmup`` seconds (real time) before its first batch; an aborted transaction rebuilds it the
same way, so a batch processed twice never counts twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.registry import REGISTRY, CollectorRegistry

from rastro_fraud import contract, feedback
from rastro_fraud.contract import TransactionError, format_timestamp
from rastro_fraud.decision import BLOCKLISTS, OUTCOMES, REVIEW, BlocklistEntry, Blocklists, Decider, SiteRule
from rastro_fraud.features import Features
from rastro_fraud.model import Model

log = logging.getLogger(__name__)
GROUP = "rastro-fraud"
# How soon the group notices a dead instance, and how long a dead instance's open transaction can hold
# back its partitions (the broker checks for timed-out transactions every 10 s).
SESSION_TIMEOUT_MS = 10_000
TRANSACTION_TIMEOUT_MS = 15_000
# The verdicts fraud-feedback carries (what rastro-fraud analyst sends).
VERDICTS = tuple(feedback.VERDICTS.values())


@dataclass(frozen=True)
class Topics:
    transactions: str = "card-transactions"
    dlq: str = "card-transactions-dlq"
    decisions: str = "fraud-decisions"
    suspicious: str = "fraud-suspicious"
    feedback: str = "fraud-feedback"
    blocklist_prefix: str = "fraud-blocklist-"
    sites: str = "fraud-reference-sites"

    def blocklist(self, kind: str) -> str:
        return self.blocklist_prefix + kind


class Metrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.latency = Histogram("rastro_fraud_decision_latency_seconds",
                                 "Transaction timestamp to its decision being sent",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                                 registry=registry)
        self.decisions = Counter("rastro_fraud_decisions_total", "Decisions committed", ["outcome"], registry=registry)
        for outcome in OUTCOMES:
            self.decisions.labels(outcome)
        self.dlq = Counter("rastro_fraud_dead_letters_total", "Transactions sent to the DLQ", ["field"], registry=registry)
        self.scores = Histogram("rastro_fraud_score", "Model scores of the transactions scored",
                                buckets=(0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99), registry=registry)
        self.blocklist = Gauge("rastro_fraud_blocklist_entries", "Entries in this instance's view of a blocklist",
                               ["blocklist"], registry=registry)
        self.feedback = Counter("rastro_fraud_feedback_applied_total", "Analyst verdicts applied", ["verdict"],
                                registry=registry)
        self.model = Gauge("rastro_fraud_model_info", "The model this instance scores with", ["version"],
                           registry=registry)
        self.transactions = Counter("rastro_fraud_kafka_transactions_total", "Kafka transactions", ["result"],
                                    registry=registry)
        self.phases = Histogram("rastro_fraud_batch_phase_seconds",
                                "Time of one batch's phases: process (validate, features, score, produce) and "
                                "commit (offsets into the transaction and its commit)", ["phase"],
                                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry)
        self.batch_size = Histogram("rastro_fraud_batch_transactions", "Messages per Kafka transaction",
                                    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000), registry=registry)
        self.rebuilds = Counter("rastro_fraud_state_rebuilds_total", "Feature state rebuilt from the topic",
                                registry=registry)


def _json(value: Optional[bytes]) -> Any:
    return None if value is None else json.loads(value)


class ListView:
    """The blocklists and the site reference, every partition read from the beginning."""

    def __init__(self, conf: dict[str, str], topics: Topics, blocklists: Blocklists,
                 sites: dict[str, dict[str, Any]]) -> None:
        self.topics = topics
        self.blocklists = blocklists
        self.sites = sites
        # A group id is required by the client; nothing is ever committed under it.
        self.consumer = Consumer({**conf, "group.id": f"{GROUP}-lists", "enable.auto.commit": False,
                                  "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
        names = [topics.blocklist(k) for k in BLOCKLISTS] + [topics.sites]
        metadata = self.consumer.list_topics(timeout=30)
        parts = []
        for name in names:
            if name not in metadata.topics or metadata.topics[name].error is not None:
                raise RuntimeError(f"topic {name} is missing: run playbooks/topics.yml")
            parts += [TopicPartition(name, p, OFFSET_BEGINNING) for p in metadata.topics[name].partitions]
        self.partitions = parts
        self.consumer.assign(parts)
        self._kind = {topics.blocklist(k): k for k in BLOCKLISTS}

    def apply(self, msg: Message) -> None:
        key = msg.key().decode() if msg.key() else ""
        try:
            value = _json(msg.value())
        except ValueError:
            log.warning("%s: %s is not JSON, ignored", msg.topic(), key)
            return
        if msg.topic() == self.topics.sites:
            if value is None:
                self.sites.pop(key, None)
            else:
                self.sites[key] = value
        else:
            self.blocklists.put(self._kind[msg.topic()], key, value)

    def drain(self, limit: int = 10_000) -> int:
        n = 0
        while n < limit:
            msg = self.consumer.poll(0)
            if msg is None:
                break
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("lists: %s", msg.error())
                continue
            self.apply(msg)
            n += 1
        return n

    def catch_up(self, timeout: float = 120.0) -> None:
        """Read until every partition's end as of now: the view is complete before the first decision."""
        ends = {}
        for tp in self.partitions:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10)
            ends[(tp.topic, tp.partition)] = high
        deadline = time.monotonic() + timeout
        while True:
            self.drain()
            positions = self.consumer.position([TopicPartition(t, p) for t, p in ends])
            behind = [tp for tp in positions if tp.offset < ends[(tp.topic, tp.partition)] and
                      not (tp.offset < 0 and ends[(tp.topic, tp.partition)] == 0)]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"blocklists not read to their end within {timeout:.0f} s: {behind[:3]}")
            msg = self.consumer.poll(0.2)
            if msg is not None and not msg.error():
                self.apply(msg)


class DecisionService:
    def __init__(self, conf: dict[str, str], model: Model, instance: str, topics: Topics = Topics(),
                 batch: int = 5000, warmup: float = 3600.0, metrics: Optional[Metrics] = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.conf = conf
        self.model = model
        self.topics = topics
        self.batch = batch
        self.warmup = warmup
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.metrics.model.labels(model.version).set(1)
        self.blocklists = Blocklists()
        self.sites: dict[str, dict[str, Any]] = {}
        self.lists = ListView(conf, topics, self.blocklists, self.sites)
        self.features = Features(self.sites, model.time_scale)
        self.decider = Decider(self.blocklists, model.threshold, model.version)
        self.site_rule = SiteRule(window=SiteRule().window / model.time_scale)
        # An instance that dies is noticed after SESSION_TIMEOUT_MS; its open transaction (which
        # holds back its partitions' committed offsets for the next owner) is aborted at most
        # TRANSACTION_TIMEOUT_MS after it began, or at once when the instance comes back.
        self.consumer = Consumer({**conf, "group.id": GROUP, "enable.auto.commit": False,
                                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                  "partition.assignment.strategy": "cooperative-sticky",
                                  "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 5})
        self.producer = Producer({**conf, "transactional.id": f"{GROUP}-{instance}", "linger.ms": 5,
                                  "compression.type": "zstd", "acks": "all",
                                  "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS})
        self._assigned: set[tuple[str, int]] = set()
        self._needs_warmup: set[tuple[str, int]] = set()
        self._pending_outcomes: list[str] = []
        self._card_partition: dict[str, int] = {}
        self.ready = threading.Event()
        self._last_loop = 0.0

    # -- partitions --------------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._assigned.add((tp.topic, tp.partition))
            if tp.topic == self.topics.transactions:
                self._needs_warmup.add((tp.topic, tp.partition))
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = set()
        for tp in partitions:
            self._assigned.discard((tp.topic, tp.partition))
            self._needs_warmup.discard((tp.topic, tp.partition))
            if tp.topic == self.topics.transactions:
                gone.add(tp.partition)
        # Their cards' state goes with them: whoever gets the partition (this instance again,
        # later) rebuilds it from the topic.
        for card in [c for c, p in self._card_partition.items() if p in gone]:
            self.features.forget_card(card)
            del self._card_partition[card]
        log.info("revoked %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _warm_up(self, keys: set[tuple[str, int]]) -> None:
        """Card state of these partitions from their last `warmup` seconds up to the group's
        committed offsets (what this instance decides next)."""
        if not keys:
            return
        started = time.monotonic()
        parts = [TopicPartition(t, p) for t, p in sorted(keys)]
        committed = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.committed(parts, timeout=30)}
        since_ms = int((self.clock() - self.warmup / self.model.time_scale) * 1000)
        starts = self.consumer.offsets_for_times([TopicPartition(t, p, since_ms) for t, p in sorted(keys)], timeout=30)
        # Read [the offset at `since`, the committed offset) of each partition that has both.
        todo = {(tp.topic, tp.partition): committed[(tp.topic, tp.partition)] for tp in starts
                if 0 <= tp.offset < committed.get((tp.topic, tp.partition), -1)}
        replayed = 0
        if todo:
            reader = Consumer({**self.conf, "group.id": f"{GROUP}-warmup", "enable.auto.commit": False,
                               "isolation.level": "read_committed", "enable.partition.eof": True})
            reader.assign([tp for tp in starts if (tp.topic, tp.partition) in todo])
            while todo:
                msg = reader.poll(1.0)
                if msg is None:
                    continue
                key = (msg.topic(), msg.partition())
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        todo.pop(key, None)
                    continue
                if key not in todo:
                    continue
                if msg.offset() >= todo[key]:
                    todo.pop(key)
                    continue
                try:
                    tx = contract.validate(_json(msg.value()))
                except (ValueError, TypeError):
                    continue
                self.features.vector(tx)
                self._card_partition[tx["card_id"]] = msg.partition()
                replayed += 1
            reader.close()
        self.metrics.rebuilds.inc()
        log.info("card state of %d partitions rebuilt from %d transactions in %.1f s",
                 len(keys), replayed, time.monotonic() - started)

    # -- one batch ---------------------------------------------------------------------------------
    def _produce(self, topic: str, key: Optional[str], value: Optional[dict[str, Any]],
                 headers: Optional[list[tuple[str, bytes]]] = None) -> None:
        payload = None if value is None else json.dumps(value, separators=(",", ":")).encode()
        self.producer.produce(topic, key=key.encode() if key else None, value=payload, headers=headers)

    def _blocklist(self, entry: BlocklistEntry, now: str) -> None:
        record = {"reason": entry.reason, "transaction_id": entry.transaction_id, "listed_at": now}
        self.blocklists.put(entry.kind, entry.key, record)
        self._produce(self.topics.blocklist(entry.kind), entry.key, record)

    def _feedback(self, msg: Message, now: str) -> None:
        try:
            fb = _json(msg.value())
            kind, key, verdict = fb["kind"], fb["key"], fb["verdict"]
            if kind not in BLOCKLISTS or verdict not in VERDICTS or not isinstance(key, str):
                raise ValueError(f"kind {kind!r} / verdict {verdict!r}")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("feedback at %s[%d]@%d ignored: %s", msg.topic(), msg.partition(), msg.offset(), exc)
            return
        if verdict == "cancelled":
            self.blocklists.put(kind, key, None)
            self._produce(self.topics.blocklist(kind), key, None)
        else:
            current = self.blocklists.entries[kind].get(key, {})
            reason = fb.get("reason") or current.get("reason") or "analyst"
            record = {**current, "reason": reason, "listed_at": current.get("listed_at", now),
                      "verdict": verdict, "analyst": fb.get("analyst", "")}
            self.blocklists.put(kind, key, record)
            self._produce(self.topics.blocklist(kind), key, record)
        self.metrics.feedback.labels(verdict).inc()

    def process(self, msgs: list[Message]) -> None:
        """Everything one batch sends, inside the open transaction."""
        now = format_timestamp(datetime.now(timezone.utc))
        txs: list[tuple[Message, dict[str, Any]]] = []
        for msg in msgs:
            if msg.topic() == self.topics.feedback:
                self._feedback(msg, now)
                continue
            try:
                txs.append((msg, contract.validate(json.loads(msg.value()))))
            except (ValueError, TypeError) as exc:
                field = exc.field if isinstance(exc, TransactionError) else "transaction"
                reason = str(exc) if isinstance(exc, TransactionError) else f"transaction: not JSON ({exc})"
                self.producer.produce(self.topics.dlq, key=msg.key(), value=msg.value(),
                                      headers=[("rastro.error.field", field.encode()),
                                               ("rastro.error.reason", reason.encode())])
                self.metrics.dlq.labels(field).inc()
        if not txs:
            return
        vectors = [self.features.vector(tx) for _, tx in txs]
        for msg, tx in txs:
            self._card_partition[tx["card_id"]] = msg.partition()
        scores = self.model.scores(_matrix(vectors))
        sent_at = self.clock()
        for (msg, tx), vector, score in zip(txs, vectors, scores):
            decision, entries = self.decider.decide(tx, float(score))
            if decision.score is not None:
                self.metrics.scores.observe(decision.score)
            if decision.outcome == REVIEW:
                if self.site_rule.flagged(tx["site_id"], tx["card_id"], contract.epoch(tx["timestamp"])):
                    entries.append(BlocklistEntry("site", tx["site_id"],
                                                  f"{self.site_rule.cards} cards flagged within the hour",
                                                  tx["transaction_id"]))
                for entry in entries:
                    self._blocklist(entry, now)
                # The features go with it: an analyst's verdict turns them into a training label.
                self._produce(self.topics.suspicious, tx["card_id"],
                              {**decision.record(tx, now), "transaction": tx,
                               "features": [None if v != v else v for v in vector]})
            self._produce(self.topics.decisions, tx["card_id"], decision.record(tx, now))
            self.metrics.latency.observe(max(sent_at - contract.epoch(tx["timestamp"]), 0.0))
            self._pending_outcomes.append(decision.outcome)

    def health(self, stale_after: float = 30.0) -> tuple[int, dict[str, Any]]:
        """/healthz: ok once the blocklists are read and the loop turns (a batch stuck in a commit
        for longer than stale_after seconds is not ok)."""
        alive = time.monotonic() - self._last_loop < stale_after
        body = {"status": "ok" if self.ready.is_set() and alive else ("starting" if not self.ready.is_set() else "stalled"),
                "model": self.model.version, "blocklists": self.blocklists.sizes(),
                "partitions": len([k for k in self._assigned if k[0] == self.topics.transactions])}
        return (200 if body["status"] == "ok" else 503), body

    # -- the loop ----------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        """After an abort: back to the committed offsets, card state rebuilt from the topic."""
        self.metrics.transactions.labels("aborted").inc()
        parts = [TopicPartition(t, p) for t, p in sorted(self._assigned)]
        for tp in self.consumer.committed(parts, timeout=30):
            self.consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
        self.features = Features(self.sites, self.model.time_scale)
        self._card_partition.clear()
        self._warm_up({k for k in self._assigned if k[0] == self.topics.transactions})

    def run(self, stop: threading.Event) -> None:
        self.producer.init_transactions(60)
        self.lists.catch_up()
        log.info("blocklists read: %s; %d sites", self.blocklists.sizes(), len(self.sites))
        self.consumer.subscribe([self.topics.transactions, self.topics.feedback],
                                on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.ready.set()
        while not stop.is_set():
            self._last_loop = time.monotonic()
            self.lists.drain()
            for kind, n in self.blocklists.sizes().items():
                self.metrics.blocklist.labels(kind).set(n)
            msgs = next_batch(self.consumer, self.batch, wait=0.2)
            if self._needs_warmup:
                pending, self._needs_warmup = self._needs_warmup, set()
                self._warm_up(pending)
            msgs = [m for m in msgs if not m.error()]
            if not msgs:
                continue
            self._pending_outcomes = []
            self.metrics.batch_size.observe(len(msgs))
            self.producer.begin_transaction()
            try:
                with self.metrics.phases.labels("process").time():
                    self.process(msgs)
                with self.metrics.phases.labels("commit").time():
                    self.producer.send_offsets_to_transaction(
                        self.consumer.position(self.consumer.assignment()), self.consumer.consumer_group_metadata(), 60)
                    self.producer.commit_transaction(60)
            except KafkaException as exc:
                error = exc.args[0]
                if error.txn_requires_abort():
                    log.warning("transaction aborted: %s", error)
                    self.producer.abort_transaction(60)
                    self._rebuild()
                    continue
                raise
            self.metrics.transactions.labels("committed").inc()
            for outcome in self._pending_outcomes:
                self.metrics.decisions.labels(outcome).inc()
        self.consumer.close()
        self.producer.flush(30)


def next_batch(consumer: Consumer, most: int, wait: float) -> list[Message]:
    """What has arrived, up to `most` messages, without waiting for more once there is one.

    librdkafka's consume(n, timeout) returns only when it has n messages or the timeout has passed:
    below n per timeout a batch waited the whole timeout (200 ms) before its first decision. Here a
    batch is what came in while the last one was decided (a backlog still gives full batches), and
    only an empty queue waits, for its first message."""
    msgs = consumer.consume(most, timeout=0)
    if msgs:
        return msgs
    msgs = consumer.consume(1, timeout=wait)
    if msgs and most > 1:
        msgs += consumer.consume(most - 1, timeout=0)
    return msgs


def _matrix(vectors: list[list[float]]) -> Any:
    import numpy as np
    return np.asarray(vectors, dtype=np.float64)
