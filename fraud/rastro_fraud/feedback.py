"""An analyst's verdict on a card, user or site, sent to fraud-feedback; the decision service
applies it to the blocklist (a cancellation is a tombstone) within its next batch."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Optional

from confluent_kafka import KafkaError, Message, Producer

from rastro_fraud.contract import ID_PATTERN, TransactionError, format_timestamp
from rastro_fraud.decision import BLOCKLISTS

VERDICTS = {"blocklist": "blocklisted", "confirm": "confirmed", "cancel": "cancelled"}
TOPIC = "fraud-feedback"


def record(verdict: str, kind: str, key: str, reason: str = "", analyst: str = "") -> dict[str, Any]:
    """The feedback record, or TransactionError naming the bad field and value."""
    if verdict not in VERDICTS:
        raise TransactionError("verdict", verdict, f"must be one of {', '.join(VERDICTS)}")
    if kind not in BLOCKLISTS:
        raise TransactionError("kind", kind, f"must be one of {', '.join(BLOCKLISTS)}")
    if not ID_PATTERN.match(key):
        raise TransactionError("key", key, "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'")
    return {"kind": kind, "key": key, "verdict": VERDICTS[verdict], "reason": reason, "analyst": analyst,
            "at": format_timestamp(datetime.now(timezone.utc))}


def send(conf: dict[str, str], verdict: str, kind: str, key: str, reason: str = "", analyst: str = "",
         topic: str = TOPIC) -> dict[str, Any]:
    rec = record(verdict, kind, key, reason, analyst)
    producer = Producer({**conf, "acks": "all", "enable.idempotence": True})
    errors: list[Optional[KafkaError]] = []

    def delivered(err: Optional[KafkaError], _msg: Message) -> None:
        errors.append(err)

    producer.produce(topic, key=f"{kind}:{key}".encode(), value=json.dumps(rec).encode(), on_delivery=delivered)
    producer.flush(30)
    if not errors or errors[0] is not None:
        raise RuntimeError(f"feedback not acknowledged by Kafka: {errors[0] if errors else 'timeout'}")
    return rec
