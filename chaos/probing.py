"""What the chaos probers (api_prober, fraud_prober) and the fraud benchmark share: the fault's timing
as chaos.yml records it, percentiles of what they measured, and a tail of fraud-decisions."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

DECISIONS = "fraud-decisions"


def read_fault(path: Path) -> dict[str, Any]:
    """fault.json (fault, target, injected, restored), or {} while chaos.yml has not written it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def percentile(values: list[float], q: float, empty: Optional[float] = None) -> Optional[float]:
    """The q-quantile (nearest rank, rounded to 0.1), or `empty` for no values."""
    if not values:
        return empty
    s = sorted(values)
    return round(s[min(int(q * len(s)), len(s) - 1)], 1)


class DecisionTail:
    """fraud-decisions, read_committed, from its end when created: for each transaction whose id starts
    with `prefix`, the timestamps (ms, set when the service produced them) of its decision records —
    more than one means decided twice — and the outcomes counted. `conf` is a client configuration
    (kafka_config.load of credentials/<inventory>/kafka/fraud-client.properties)."""

    def __init__(self, conf: dict[str, Any], prefix: str, group: str) -> None:
        from confluent_kafka import Consumer, TopicPartition  # here: the API prober needs no Kafka client

        self.prefix = prefix
        self.consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False,
                                  "isolation.level": "read_committed", "fetch.max.bytes": 52428800})
        md = self.consumer.list_topics(DECISIONS, timeout=30).topics[DECISIONS]
        self.consumer.assign([TopicPartition(DECISIONS, p, self.consumer.get_watermark_offsets(
            TopicPartition(DECISIONS, p), timeout=10)[1]) for p in md.partitions])
        self.decided: dict[str, list[int]] = {}
        self.outcomes: Counter[str] = Counter()

    def poll(self, timeout: float, limit: int = 5000) -> list[tuple[dict[str, Any], int]]:
        """Reads what is there (waiting up to `timeout` s); returns the first decisions of transactions
        read in this call, with their timestamps (ms)."""
        first = []
        for msg in self.consumer.consume(limit, timeout=timeout):
            if msg.error():
                continue
            d = json.loads(msg.value())
            tid = d.get("transaction_id", "")
            if not tid.startswith(self.prefix):
                continue
            at = msg.timestamp()[1]
            seen = self.decided.setdefault(tid, [])
            seen.append(at)
            self.outcomes[d.get("outcome", "?")] += 1
            if len(seen) == 1:
                first.append((d, at))
        return first

    def twice(self) -> list[str]:
        """Transactions decided more than once."""
        return sorted(t for t, ts in self.decided.items() if len(ts) > 1)

    def close(self) -> None:
        self.consumer.close()
