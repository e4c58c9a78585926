#!/usr/bin/python3
"""Print the lab cluster's state: brokers, KRaft quorum, topics, replica health."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from confluent_kafka import KafkaException  # noqa: E402
from confluent_kafka.admin import AdminClient, ConfigResource  # noqa: E402

from tests.lib.lab import BOOTSTRAP, HOSTS, TOOLS, kafka_conf, ssh  # noqa: E402


def main() -> int:
    admin = AdminClient(kafka_conf())
    try:
        md = admin.list_topics(timeout=15)
    except KafkaException as exc:
        print(f"cannot reach the cluster at {BOOTSTRAP}: {exc}", file=sys.stderr)
        return 1

    print(f"== brokers ({len(md.brokers)}) — controller-assigned ids, as clients see them")
    for b in sorted(md.brokers.values(), key=lambda b: b.id):
        print(f"  broker {b.id}  {b.host}:{b.port}")

    first = next(iter(HOSTS))
    out = ssh(first, f"kafka-metadata-quorum {TOOLS} --bootstrap-controller {HOSTS[first]}:9093 describe --status", check=False)
    if out.returncode == 0:
        leader = re.search(r"LeaderId:\s+(-?\d+)", out.stdout).group(1)
        voters = [v["id"] for v in json.loads(re.search(r"CurrentVoters:\s+(\[.*\])", out.stdout).group(1))]
        epoch = re.search(r"LeaderEpoch:\s+(\d+)", out.stdout).group(1)
        hw = re.search(r"HighWatermark:\s+(\d+)", out.stdout).group(1)
        print(f"== KRaft quorum: voters {voters}, leader {leader}, epoch {epoch}, metadata offset {hw}")
    else:
        print(f"== KRaft quorum: unavailable ({out.stderr.strip()[:200]})")

    print("== topics")
    leaders: Counter = Counter()
    urp = 0
    for name in sorted(md.topics):
        t = md.topics[name]
        parts = t.partitions.values()
        rf = max((len(p.replicas) for p in parts), default=0)
        under = sum(1 for p in parts if len(p.isrs) < len(p.replicas))
        urp += under
        leaders.update(p.leader for p in parts)
        policy = ""
        if not name.startswith("__"):
            res = ConfigResource("topic", name)
            cfg = admin.describe_configs([res])[res].result(15)
            policy = f"  cleanup.policy={cfg['cleanup.policy'].value} min.insync.replicas={cfg['min.insync.replicas'].value}"
        print(f"  {name:32s} partitions={len(t.partitions):<3d} rf={rf} under-replicated={under}{policy}")
    print(f"== under-replicated partitions: {urp}")
    print("== partition leaders per broker: " + ", ".join(f"{b}: {n}" for b, n in sorted(leaders.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
