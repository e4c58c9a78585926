"""A world's transactions into Kafka at the pace they happen (the world's size and time scale set
the rate), stamped with the time they are sent; their labels, optionally, into a file.

First the world's reference data (sites, users) goes to its compacted topics, and optionally a
history: the first `history` seconds of the world sent at once with timestamps in the past, as if
the stream had been running that long, so the cards and sites have a past when the live part begins
(the features compare a transaction with it)."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from confluent_kafka import KafkaError, Message, Producer

from rastro_fraud.contract import epoch, format_timestamp
from rastro_fraud.generator import World, contract_fields

log = logging.getLogger(__name__)


REFERENCE_TOPICS = {"sites": ("fraud-reference-sites", "site_id"), "users": ("fraud-reference-users", "user_id")}


def publish_reference(conf: dict[str, str], world: World) -> int:
    """The world's sites and users into their compacted topics (the same records again change nothing)."""
    producer = Producer({**conf, "linger.ms": 20, "compression.type": "zstd", "acks": "all", "enable.idempotence": True})
    n = 0
    for kind, record in world.reference():
        if kind in REFERENCE_TOPICS:
            topic, key = REFERENCE_TOPICS[kind]
            while True:
                try:
                    producer.produce(topic, key=record[key].encode(), value=json.dumps(record).encode())
                    break
                except BufferError:
                    producer.poll(0.05)
            n += 1
    if producer.flush(60):
        raise RuntimeError("reference data not acknowledged within 60 s")
    return n


def run(conf: dict[str, str], world: World, seconds: float, topic: str = "card-transactions",
        labels_out: Optional[Path] = None, progress_every: float = 10.0, run: int = 2,
        history: float = 0.0) -> dict[str, Any]:
    references = publish_reference(conf, world)
    log.info("%d reference records published", references)
    producer = Producer({**conf, "linger.ms": 5, "compression.type": "zstd", "acks": "all",
                         "enable.idempotence": True})
    counts = {"acknowledged": 0, "failed": 0}

    def delivered(err: Optional[KafkaError], _msg: Message) -> None:
        counts["failed" if err else "acknowledged"] += 1
        if err:
            log.warning("not delivered: %s", err)

    labels = labels_out.open("w") if labels_out else None
    started = time.time()
    t0 = world.start
    sent = 0
    next_report = started + progress_every
    sent_history = 0
    live_started: Optional[float] = None
    for tx in world.transactions(seed_offset=run):
        offset = epoch(tx["timestamp"]) - t0
        if offset >= history + seconds:
            break
        live = offset >= history
        if live:
            if live_started is None:
                live_started = time.time()
                log.info("history sent (%d transactions); live from now", sent_history)
            ahead = live_started + offset - history - time.time()
            if ahead > 0:
                time.sleep(ahead)
            tx["timestamp"] = format_timestamp(datetime.now(timezone.utc))
        else:
            tx["timestamp"] = format_timestamp(datetime.fromtimestamp(started - history + offset, timezone.utc))
            sent_history += 1
        value = json.dumps(contract_fields(tx), separators=(",", ":")).encode()
        while True:
            try:
                producer.produce(topic, key=tx["card_id"].encode(), value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if labels:
            labels.write(json.dumps({**{k: tx[k] for k in ("transaction_id", "card_id", "fraud", "pattern", "incident")},
                                     "live": live}) + "\n")
        producer.poll(0)
        if time.time() >= next_report:
            log.info("%d sent (%.0f/s), %d acknowledged", sent, sent / (time.time() - started), counts["acknowledged"])
            next_report += progress_every
    producer.flush(60)
    if labels:
        labels.close()
    took = time.time() - started
    live_sent = sent - sent_history
    return {"sent": sent, "history": sent_history, "acknowledged": counts["acknowledged"], "failed": counts["failed"],
            "seconds": round(took, 1), "live_rate": round(live_sent / seconds, 1) if seconds else 0.0,
            "reference_records": references}
