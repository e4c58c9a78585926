"""With one broker stopped, acks=all produce to driver-locations (RF 3, min ISR 2) still succeeds."""

from __future__ import annotations

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.lib.lab import kafka_conf, ssh, wait_until


def under_replicated(admin: AdminClient) -> int:
    topics = admin.list_topics(timeout=15).topics
    return sum(1 for t in topics.values() for p in t.partitions.values() if len(p.isrs) < len(p.replicas))


def test_produce_with_one_broker_stopped(admin: AdminClient) -> None:
    ssh("kafka3", "systemctl stop kafka")
    try:
        wait_until(lambda: under_replicated(admin) > 0, 60, what="the cluster to notice kafka3 is down")
        producer = Producer({**kafka_conf(), "acks": "all", "enable.idempotence": True,
                             "message.timeout.ms": 30000})
        results: list = []
        for i in range(600):
            # Contract-shaped tombstones for drivers no one uses: harmless to later consumers.
            producer.produce("driver-locations", key=f"failover-probe-{i % 60}", value=None,
                             on_delivery=lambda err, msg: results.append((err, msg.partition())))
        assert producer.flush(60) == 0
        errors = [err for err, _ in results if err is not None]
        assert not errors, errors[:5]
        # Every partition took writes, including those kafka3 led before it stopped.
        assert len({p for _, p in results}) == 12
        md = admin.list_topics("driver-locations", timeout=15).topics["driver-locations"]
        assert all(p.leader in (1, 2) for p in md.partitions.values())
    finally:
        ssh("kafka3", "systemctl start kafka")
    wait_until(lambda: under_replicated(admin) == 0, 180, interval=3,
               what="zero under-replicated partitions after kafka3 restarts")
