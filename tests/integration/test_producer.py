"""The producer against the lab cluster: nothing acknowledged is lost or reordered, and the
service started by roles/producer exposes metrics and stops cleanly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "producer"))

from rastro_producer.partitioning import partition_for  # noqa: E402
from rastro_producer.sender import Sender  # noqa: E402
from rastro_producer.simulator import Simulator, start_of  # noqa: E402

from tests.lib.lab import BOOTSTRAP, HOSTS, client_config_file, kafka_conf, ssh, wait_until  # noqa: E402
from tests.lib.prom import mon  # noqa: E402

UPDATES, DRIVERS, PARTITIONS = 100_000, 1_000, 12


@pytest.fixture()
def topic(admin: AdminClient) -> Iterator[str]:
    # driver-locations' replication settings, but no compaction: the check below must see every
    # acknowledged record, and the cleaner could legitimately drop superseded ones mid-test.
    name = f"rastro-it-producer-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[name].result(30)

    def known_everywhere() -> bool:
        # A producer asking a broker that has not yet applied the new topic is told it does not
        # exist (_UNKNOWN_TOPIC); wait until every broker serves it with a leader per partition.
        for ip in HOSTS.values():
            md = AdminClient(kafka_conf(**{"bootstrap.servers": f"{ip}:9092"})).list_topics(name, timeout=10).topics.get(name)
            if md is None or md.error is not None or len(md.partitions) != PARTITIONS \
                    or any(p.leader < 0 for p in md.partitions.values()):
                return False
        return True
    wait_until(known_everywhere, 60, interval=1, what=f"every broker to serve topic {name}")
    yield name
    admin.delete_topics([name])[name].result(30)


def test_100k_updates_all_acknowledged_read_back_in_order(topic: str) -> None:
    acked: list[tuple[str, int, int, bytes]] = []
    sender = Sender(BOOTSTRAP, topic, extra=kafka_conf(), on_ack=lambda m: acked.append((m.key().decode(), m.partition(), m.offset(), m.value())))
    sim = Simulator(DRIVERS, seed=1234)
    for key, update in sim.rounds(start_of("2026-11-22T10:00:00Z"), UPDATES):
        sender.send(key, update)
        sender.poll(0)
    assert sender.flush(120) == 0
    assert sender.stats.failed == 0
    assert len(acked) == UPDATES
    assert len({k for k, *_ in acked}) == DRIVERS

    # Same driver, same partition — the one Kafka's Java partitioner would pick.
    for key, partition, _, _ in acked:
        assert partition == partition_for(key, PARTITIONS), key

    expected = {(p, o): (k, v) for k, p, o, v in acked}
    ends = defaultdict(int)
    for _, p, o, _ in acked:
        ends[p] = max(ends[p], o + 1)
    consumer = Consumer({**kafka_conf(), "group.id": f"it-{topic}", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen: dict[tuple[int, int], tuple[str, bytes]] = {}
    deadline = time.monotonic() + 120
    while len(seen) < len(expected) and time.monotonic() < deadline:
        for msg in consumer.consume(10000, 1.0):
            if msg.error() is None:
                seen[(msg.partition(), msg.offset())] = (msg.key().decode(), msg.value())
    consumer.close()
    missing = set(expected) - set(seen)
    assert not missing, f"{len(missing)} acknowledged updates missing, e.g. {sorted(missing)[:5]}"
    assert all(seen[po] == expected[po] for po in expected)

    # Per driver, offset order is timestamp order: retries did not reorder anything.
    by_driver: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for (p, o), (k, v) in seen.items():
        by_driver[k].append((o, json.loads(v)["timestamp"]))
    for key, items in by_driver.items():
        stamps = [ts for _, ts in sorted(items)]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), key
        assert len(items) == UPDATES // DRIVERS


def test_a_replaced_producer_resends_everything_it_had_not_delivered(topic: str) -> None:
    # The recovery path of a fatal client error (see Sender._recover), on the real cluster: updates
    # still queued in the dead instance are purged, collected and produced again by a new one.
    acked: list[tuple[str, bytes]] = []
    sender = Sender(BOOTSTRAP, topic, extra={**kafka_conf(), "linger.ms": 5000},
                    on_ack=lambda m: acked.append((m.key().decode(), m.value())))
    sim = Simulator(200, seed=99)
    updates = list(sim.rounds(start_of("2026-11-22T11:00:00Z"), 2000))
    for key, update in updates:
        sender.send(key, update)
    # linger.ms keeps them in the local queue; declare the instance dead, as error_cb would.
    sender.fatal = "simulated fatal error (test)"
    sender.poll(0)
    assert sender.recoveries == 1
    assert sender.flush(60) == 0 and sender.stats.failed == 0
    sent = [(k, json.dumps(u, separators=(",", ":")).encode()) for k, u in updates]
    assert sorted(acked) == sorted(sent), "every update acknowledged once by the new producer"
    # Per driver, the re-sent updates kept their order.
    for driver in {k for k, _ in sent}:
        assert [v for k, v in acked if k == driver] == [v for k, v in sent if k == driver]


def metrics_text() -> str:
    # As Prometheus reads it: HTTPS, basic authentication (credentials/<inventory>/monitoring.properties).
    return mon().get(f"https://{HOSTS['kafka1']}:8000/metrics", timeout=10).decode()


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    assert match, f"{name} not exported"
    return float(match.group(1))


def test_service_exposes_metrics_and_delivers() -> None:
    first = metrics_text()
    for name in ("rastro_producer_messages_sent_total", "rastro_producer_messages_acknowledged_total",
                 "rastro_producer_queue_depth", "rastro_producer_delivery_latency_seconds_count"):
        metric(first, name)
    assert 'rastro_producer_delivery_latency_seconds_bucket{le="0.1"}' in first
    acked = metric(first, "rastro_producer_messages_acknowledged_total")
    wait_until(lambda: metric(metrics_text(), "rastro_producer_messages_acknowledged_total") >= acked + 500, 30,
               what="the service to keep acknowledging (250 updates/s)")
    assert metric(metrics_text(), "rastro_producer_target_rate") == 250


def test_service_stops_cleanly_with_nothing_pending() -> None:
    since = ssh("kafka1", "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    ssh("kafka1", "systemctl stop rastro-producer")
    try:
        show = ssh("kafka1", "systemctl show rastro-producer -p Result -p ExecMainStatus").stdout
        assert "Result=success" in show and "ExecMainStatus=0" in show, show
        journal = ssh("kafka1", f"journalctl -u rastro-producer --no-pager --since '{since}'").stdout
        assert "received SIGTERM: flushing pending updates" in journal, journal[-2000:]
        done = re.search(r"done: sent=(\d+) acknowledged=(\d+) failed=(\d+) pending=(\d+)", journal)
        assert done, journal[-2000:]
        sent, acked, failed, pending = map(int, done.groups())
        assert sent == acked and failed == 0 and pending == 0, done.group(0)
    finally:
        ssh("kafka1", "systemctl start rastro-producer")


def test_replay_reports_bad_lines_and_sends_the_rest(tmp_path: Path, topic: str) -> None:
    good = {"driver_id": "replay-1", "latitude": -23.5, "longitude": -46.6,
            "timestamp": "2026-11-22T10:30:45.123Z", "status": "available"}
    lines = [json.dumps(good), "{not json", json.dumps(dict(good, latitude=95.5)),
             json.dumps(dict(good, timestamp="2026-11-22T10:30:46.000Z")), json.dumps(dict(good, status="lunch")),
             json.dumps({"tombstone": "replay-1"})]
    path = tmp_path / "updates.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = subprocess.run(["/usr/bin/python3", "-m", "rastro_producer", "replay", "--bootstrap-servers", BOOTSTRAP,
                          "--client-config", str(client_config_file()), "--topic", topic, str(path)],
                         cwd=Path(__file__).resolve().parents[2] / "producer",
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    assert f"{path}:2: rejected: line: is not JSON" in run.stderr
    assert f"{path}:3: rejected: latitude: must be between -90 and 90 (got 95.5)" in run.stderr
    assert f"{path}:5: rejected: status: must be one of available, busy, offline (got 'lunch')" in run.stderr
    assert "sent=3 acknowledged=3 failed=0 pending=0" in run.stderr


def test_two_shards_split_the_fleet_between_them(topic: str) -> None:
    """`run --shard 0/2` and `--shard 1/2` (producers on two hosts) report disjoint halves of the same
    fleet, together every driver, each at its share of the rate."""
    def shard(i: int) -> subprocess.Popen:
        return subprocess.Popen(["/usr/bin/python3", "-m", "rastro_producer", "run", "--bootstrap-servers", BOOTSTRAP,
                                 "--client-config", str(client_config_file()), "--topic", topic, "--drivers", "21",
                                 "--count", "210", "--rate", "500", "--metrics-port", "0", "--shard", f"{i}/2"],
                                cwd=Path(__file__).resolve().parents[2] / "producer", stderr=subprocess.PIPE, text=True)
    procs = [shard(0), shard(1)]
    logs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert "for 11 drivers (shard 0/2)" in logs[0] and "for 10 drivers (shard 1/2)" in logs[1], logs
    consumer = Consumer({**kafka_conf(), "group.id": f"it-{topic}", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "enable.partition.eof": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    keys: list[str] = []
    deadline = time.monotonic() + 60
    while len(keys) < 420 and time.monotonic() < deadline:
        keys += [m.key().decode() for m in consumer.consume(1000, 1.0) if m.error() is None]
    consumer.close()
    assert len(keys) == 420
    ids = sorted(set(keys))
    assert ids == [f"driver-{i:04d}" for i in range(21)]
    # Every driver reported by one shard only: 210 updates over its 11 or 10 drivers.
    counts = {k: keys.count(k) for k in ids}
    assert {counts[f"driver-{i:04d}"] for i in range(0, 21, 2)} == {210 // 11, 210 // 11 + 1}
    assert {counts[f"driver-{i:04d}"] for i in range(1, 21, 2)} == {21}
