"""fraud-suspicious into PostgreSQL (rastro_fraud.store): each batch and the offsets after it in one
PostgreSQL transaction; on every assignment the consumer starts from the offsets PostgreSQL holds,
never from Kafka's committed ones, so a crash anywhere loses no row and writes none twice."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from rastro_fraud.store import Store

log = logging.getLogger(__name__)
GROUP = "rastro-fraud-recorder"
TOPIC = "fraud-suspicious"


def run(conf: dict[str, str], store: Store, stop: threading.Event, topic: str = TOPIC, batch: int = 500) -> int:
    """Record until stop is set; returns the rows written."""
    consumer = Consumer({**conf, "group.id": GROUP, "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest"})

    def on_assign(c: Consumer, parts: list[TopicPartition]) -> None:
        held = store.offsets(topic)
        for tp in parts:
            tp.offset = held.get(tp.partition, OFFSET_BEGINNING)
        c.assign(parts)
        log.info("recording %s from %s", topic, {tp.partition: tp.offset for tp in parts})

    consumer.subscribe([topic], on_assign=on_assign)
    written = 0
    try:
        while not stop.is_set():
            msgs = [m for m in consumer.consume(batch, timeout=1.0) if not m.error()]
            if not msgs:
                continue
            rows: list[dict[str, Any]] = []
            after: dict[int, int] = {}
            for m in msgs:
                try:
                    rows.append(json.loads(m.value()))
                except ValueError:
                    log.warning("%s[%d]@%d is not JSON; skipped", m.topic(), m.partition(), m.offset())
                after[m.partition()] = max(after.get(m.partition(), 0), m.offset() + 1)
            written += store.record(rows, topic, after)
    finally:
        consumer.close()
    return written
