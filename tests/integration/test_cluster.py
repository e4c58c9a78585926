"""The cluster site.yml built: three brokers, a three-voter KRaft quorum, safe broker defaults."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Iterator

import pytest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from tests.lib.lab import HOSTS, TOOLS, kafka_conf, ssh


def test_three_brokers_registered(admin: AdminClient) -> None:
    md = admin.list_topics(timeout=15)
    assert sorted(b.id for b in md.brokers.values()) == [1, 2, 3]
    assert {b.host for b in md.brokers.values()} == set(HOSTS.values())


def test_kraft_quorum_has_three_voters_and_one_leader() -> None:
    out = ssh("kafka1", f"kafka-metadata-quorum {TOOLS} --bootstrap-controller 192.168.56.11:9093 describe --status").stdout
    leader = int(re.search(r"LeaderId:\s+(-?\d+)", out).group(1))
    voters = json.loads(re.search(r"CurrentVoters:\s+(\[.*\])", out).group(1))
    voter_ids = sorted(v["id"] for v in voters)
    assert voter_ids == [1, 2, 3]
    assert leader in voter_ids
    # Every voter agrees on the same single leader.
    for host, ip in HOSTS.items():
        out = ssh(host, f"kafka-metadata-quorum {TOOLS} --bootstrap-controller {ip}:9093 describe --status").stdout
        assert int(re.search(r"LeaderId:\s+(-?\d+)", out).group(1)) == leader, host
    repl = ssh("kafka1", f"kafka-metadata-quorum {TOOLS} --bootstrap-controller 192.168.56.11:9093 describe --replication").stdout
    assert len(re.findall(r"\bLeader\b", repl)) == 1, repl


def test_broker_safe_defaults(admin: AdminClient) -> None:
    res = ConfigResource("broker", "1")
    cfg = {k: v.value for k, v in admin.describe_configs([res])[res].result(15).items()}
    assert cfg["default.replication.factor"] == "3"
    assert cfg["min.insync.replicas"] == "2"
    assert cfg["unclean.leader.election.enable"] == "false"
    assert cfg["auto.create.topics.enable"] == "false"
    assert cfg["offsets.topic.replication.factor"] == "3"
    assert cfg["transaction.state.log.min.isr"] == "2"
    assert int(cfg["broker.heartbeat.interval.ms"]) < 2000


@pytest.fixture()
def scratch_topic(admin: AdminClient) -> Iterator[str]:
    """A throw-away topic with the production replication settings, so the round trip does not
    leave foreign records in driver-locations (later components consume it)."""
    name = f"rastro-it-{uuid.uuid4().hex[:8]}"
    fut = admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=3,
                                        config={"min.insync.replicas": "2"})])
    fut[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


def test_acks_all_round_trip(scratch_topic: str) -> None:
    run = uuid.uuid4().hex
    producer = Producer({**kafka_conf(), "acks": "all", "enable.idempotence": True})
    delivered: list = []
    for i in range(200):
        key = f"rt-{run}-{i % 20}"
        value = json.dumps({"run": run, "i": i})
        producer.produce(scratch_topic, key=key, value=value,
                         on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    assert producer.flush(30) == 0
    assert all(err is None for err, _, _ in delivered), [e for e, _, _ in delivered if e]
    assert len(delivered) == 200

    # Read back exactly the offsets that were acknowledged.
    consumer = Consumer({**kafka_conf(), "group.id": f"rt-{run}", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    first = {}
    for _, p, off in delivered:
        first[p] = min(first.get(p, off), off)
    consumer.assign([TopicPartition(scratch_topic, p, off) for p, off in first.items()])
    seen = set()
    deadline = time.monotonic() + 60
    while len(seen) < 200 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        body = json.loads(msg.value())
        if body.get("run") == run:
            seen.add(body["i"])
    consumer.close()
    assert seen == set(range(200))
