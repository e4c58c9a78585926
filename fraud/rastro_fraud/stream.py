"""A world's transactions into Kafka at the pace they happen (the world's size and time scale set
the rate), stamped with the time they are sent; their labels, optionally, into a file."""

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


def run(conf: dict[str, str], world: World, seconds: float, topic: str = "card-transactions",
        labels_out: Optional[Path] = None, progress_every: float = 10.0, run: int = 2) -> dict[str, Any]:
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
    for tx in world.transactions(seed_offset=run):
        offset = epoch(tx["timestamp"]) - t0
        if offset >= seconds:
            break
        ahead = started + offset - time.time()
        if ahead > 0:
            time.sleep(ahead)
        tx["timestamp"] = format_timestamp(datetime.now(timezone.utc))
        value = json.dumps(contract_fields(tx), separators=(",", ":")).encode()
        while True:
            try:
                producer.produce(topic, key=tx["card_id"].encode(), value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if labels:
            labels.write(json.dumps({k: tx[k] for k in ("transaction_id", "card_id", "fraud", "pattern", "incident")}) + "\n")
        producer.poll(0)
        if time.time() >= next_report:
            log.info("%d sent (%.0f/s), %d acknowledged", sent, sent / (time.time() - started), counts["acknowledged"])
            next_report += progress_every
    producer.flush(60)
    if labels:
        labels.close()
    took = time.time() - started
    return {"sent": sent, "acknowledged": counts["acknowledged"], "failed": counts["failed"],
            "seconds": round(took, 1), "rate": round(sent / took, 1) if took else 0.0}
