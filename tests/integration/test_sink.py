"""Kafka Connect + the rastro Redis sink on the lab: Redis holds exactly the latest update of every
driver, whatever arrives late, twice, malformed or deleted, and whichever worker dies."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "producer"))

from rastro_producer.contract import GEO_KEYS, format_timestamp  # noqa: E402
from rastro_producer.sender import Sender  # noqa: E402
from rastro_producer.simulator import Simulator, start_of  # noqa: E402

from tests.lib.connect import connector_status, rest  # noqa: E402
from tests.lib.lab import BOOTSTRAP, HOSTS, kafka_conf, redis_admin, ssh, wait_until  # noqa: E402

TOPIC = "driver-locations"
GROUP = "connect-redis-sink"
RETRIABLE_COORDINATOR_ERRORS = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                 KafkaError.COORDINATOR_NOT_AVAILABLE}


@pytest.fixture(scope="module")
def r() -> Iterator[redis.Redis]:
    client = redis.Redis(**redis_admin(), decode_responses=True)
    # The producer service writes its own 1,000 drivers; stop it so every driver:* key below is ours.
    ssh("kafka1", "systemctl stop rastro-producer")
    yield client
    ssh("kafka1", "systemctl start rastro-producer")


def send_updates(updates: list[tuple[str, Optional[dict]]]) -> list[tuple[str, int, int]]:
    acked: list[tuple[str, int, int]] = []
    sender = Sender(BOOTSTRAP, TOPIC, extra=kafka_conf(), on_ack=lambda m: acked.append((m.key().decode(), m.partition(), m.offset())))
    for key, update in updates:
        sender.send(key, update)
        sender.poll(0)
    assert sender.flush(60) == 0 and sender.stats.failed == 0
    return acked


def wait_sink_caught_up(acked: list[tuple[str, int, int]], timeout: float = 120) -> None:
    """Until the connector's committed offsets pass every acknowledged record: the sink has
    applied them (offsets are committed only after put() returned)."""
    last: dict[int, int] = {}
    for _, p, o in acked:
        last[p] = max(last.get(p, -1), o)
    consumer = Consumer({**kafka_conf(), "group.id": GROUP, "enable.auto.commit": False})
    try:
        def caught_up() -> bool:
            try:
                committed = consumer.committed([TopicPartition(TOPIC, p) for p in last], timeout=10)
            except KafkaException as e:
                # The group coordinator may move or still be loading after a broker or worker
                # failure; that is the cluster healing, so ask again rather than fail.
                if e.args[0].code() in RETRIABLE_COORDINATOR_ERRORS or e.args[0].retriable():
                    return False
                raise
            return all(tp.offset > last[tp.partition] for tp in committed)
        wait_until(caught_up, timeout, interval=1, what="the Redis sink to commit past the acknowledged records")
    finally:
        consumer.close()


def assert_state(r: redis.Redis, expected: dict[str, dict]) -> None:
    pipe = r.pipeline()
    for d in expected:
        pipe.hgetall(f"driver:{d}")
    for d, want in expected.items():
        for status, key in GEO_KEYS.items():
            pipe.geopos(key, d)
    replies = pipe.execute()
    hashes = replies[:len(expected)]
    # Per driver, its position in each status's geo set: only its own status's holds it.
    where = [dict(zip(GEO_KEYS, (p[0] for p in replies[len(expected) + 3 * i:len(expected) + 3 * i + 3])))
             for i in range(len(expected))]
    positions = []
    for (d, want), sets in zip(expected.items(), where):
        assert [s for s, p in sets.items() if p is not None] == [want["status"]], (d, want["status"], sets)
        positions.append(sets[want["status"]])
    for (d, want), got, pos in zip(expected.items(), hashes, positions):
        assert set(got) == {"driver_id", "latitude", "longitude", "timestamp", "status"}, (d, got)
        assert got["driver_id"] == d and got["timestamp"] == want["timestamp"] and got["status"] == want["status"], (d, got, want)
        assert float(got["latitude"]) == pytest.approx(want["latitude"], abs=1e-9)
        assert float(got["longitude"]) == pytest.approx(want["longitude"], abs=1e-9)
        assert pos is not None, d
        assert pos[0] == pytest.approx(want["longitude"], abs=1e-5) and pos[1] == pytest.approx(want["latitude"], abs=1e-5)


def fresh_drivers(tag: str, seed: int, start: str, count: int) -> tuple[str, list[tuple[str, Optional[dict]]]]:
    """`count` updates of 1,000 simulated drivers whose ids no other test or service uses."""
    prefix = f"{tag}{uuid.uuid4().hex[:6]}-"
    sim = Simulator(1000, seed=seed, id_prefix=prefix + "driver-")
    return prefix, list(sim.rounds(start_of(start), count))


@pytest.fixture(scope="module")
def fleet(r: redis.Redis) -> dict:
    """1,000 drivers × 20 updates, as the contract's producer sends them."""
    prefix, updates = fresh_drivers("it", 2024, "2026-11-22T09:00:00Z", 20_000)
    acked = send_updates(updates)
    assert len(acked) == 20_000
    latest: dict[str, dict] = {}
    history: dict[str, list[dict]] = {}
    for key, u in updates:
        latest[key] = u
        history.setdefault(key, []).append(u)
    wait_sink_caught_up(acked)
    return {"prefix": prefix, "latest": latest, "history": history}


def test_one_hash_per_driver_equal_to_its_last_update(r: redis.Redis, fleet: dict) -> None:
    keys = list(r.scan_iter(match=f"driver:{fleet['prefix']}*", count=1000))
    assert len(keys) == 1000
    members = [m for key in GEO_KEYS.values() for m in r.zrange(key, 0, -1) if m.startswith(fleet["prefix"])]
    assert len(members) == 1000 and len(set(members)) == 1000
    assert_state(r, fleet["latest"])


def test_older_updates_resent_change_nothing(r: redis.Redis, fleet: dict) -> None:
    victims = sorted(fleet["latest"])[:100]
    stale = [(d, fleet["history"][d][5]) for d in victims]  # the 6th of 20 updates
    acked = send_updates(stale + stale)  # twice, for good measure
    wait_sink_caught_up(acked)
    assert_state(r, {d: fleet["latest"][d] for d in victims})


def test_tombstones_remove_driver_from_both_structures(r: redis.Redis, fleet: dict) -> None:
    gone = sorted(fleet["latest"])[-50:]
    acked = send_updates([(d, None) for d in gone])
    wait_sink_caught_up(acked)
    assert r.exists(*[f"driver:{d}" for d in gone]) == 0
    assert all(p is None for key in GEO_KEYS.values() for p in r.geopos(key, *gone))
    remaining = {d: u for d, u in fleet["latest"].items() if d not in gone}
    assert len(list(r.scan_iter(match=f"driver:{fleet['prefix']}*", count=1000))) == 950
    assert_state(r, remaining)


def malformed(run: str, i: int) -> tuple[str, bytes]:
    key = f"bad-{run}-{i}"
    good = {"driver_id": key, "latitude": -23.5, "longitude": -46.6, "timestamp": "2026-11-22T10:00:00.000Z",
            "status": "busy"}
    kind = i % 5
    if kind == 0:
        return key, b"{not json"
    if kind == 1:
        return key, json.dumps(dict(good, latitude="north")).encode()
    if kind == 2:
        return key, json.dumps(dict(good, longitude=200.5)).encode()
    if kind == 3:
        return key, json.dumps(dict(good, driver_id="someone-else")).encode()
    return key, json.dumps(dict(good, status="sleeping", extra=1)).encode()


def dlq_reasons(key_prefix: str, count: int, timeout: float = 90) -> dict[str, str]:
    """The dead letter queue's records whose key starts with key_prefix (up to `count` of them, or
    what arrived within `timeout`): key → the reason the sink gave in the record's headers."""
    consumer = Consumer({**kafka_conf(), "group.id": f"it-dlq-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe(["driver-locations-dlq"])
    reasons: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(reasons) < count and time.monotonic() < deadline:
            for m in consumer.consume(1000, 1.0):
                if m.error() is None and m.key() and m.key().decode().startswith(key_prefix):
                    headers = dict(m.headers() or [])
                    reasons[m.key().decode()] = (headers.get("__connect.errors.exception.message") or b"").decode()
    finally:
        consumer.close()
    return reasons


def test_malformed_records_go_to_dlq_and_the_rest_arrives(r: redis.Redis) -> None:
    run = uuid.uuid4().hex[:6]
    producer = Producer({**kafka_conf(), "acks": "all", "enable.idempotence": True,
                         "partitioner": "murmur2_random"})
    acked: list[tuple[str, int, int]] = []
    good: dict[str, dict] = {}
    for i in range(1000):
        if i % 2:
            key, value = malformed(run, i // 2)
        else:
            key = f"ok-{run}-{i // 2}"
            good[key] = {"driver_id": key, "latitude": -23.0 - i / 10000, "longitude": -46.0,
                         "timestamp": "2026-11-22T10:00:00.000Z", "status": "available"}
            value = json.dumps(good[key]).encode()
        producer.produce(TOPIC, key=key, value=value,
                         on_delivery=lambda err, m: acked.append((m.key().decode(), m.partition(), m.offset())))
    assert producer.flush(60) == 0 and len(acked) == 1000
    wait_sink_caught_up(acked)
    assert_state(r, good)
    assert r.exists(*[f"driver:bad-{run}-{i}" for i in range(500)]) == 0

    reasons = dlq_reasons(f"bad-{run}-", 500)
    assert len(reasons) == 500
    assert all(reasons.values()), "every DLQ record carries the reason in its headers"
    assert any(v.startswith("value: is not JSON") for v in reasons.values())
    assert any(v.startswith("driver_id: must equal the record key") for v in reasons.values())
    assert any("longitude: must be between -180 and 180" in v for v in reasons.values())
    status = connector_status("redis-sink")
    assert status["connector"]["state"] == "RUNNING"
    assert {t["state"] for t in status["tasks"]} == {"RUNNING"}


def test_a_future_timestamp_goes_to_dlq_and_does_not_freeze_the_driver(r: redis.Redis) -> None:
    """A device clock a year ahead: its update is refused (the producer's contract refuses it too, so
    it is written raw here) and the driver's honest updates after it still land."""
    run = uuid.uuid4().hex[:6]
    producer = Producer({**kafka_conf(), "acks": "all", "enable.idempotence": True, "partitioner": "murmur2_random"})
    acked: list[tuple[str, int, int]] = []
    now = time.time()
    honest: dict[str, dict] = {}
    for i in range(100):
        key = f"skew-{run}-{i}"
        for offset_s, lat in ((-10, -23.1), (365 * 86400, -23.2), (0, -23.3)):
            update = {"driver_id": key, "latitude": lat, "longitude": -46.5 - i / 1000,
                      "timestamp": format_timestamp(datetime.fromtimestamp(now + offset_s, timezone.utc)), "status": "busy"}
            if offset_s <= 0:
                honest[key] = update
            producer.produce(TOPIC, key=key, value=json.dumps(update).encode(),
                             on_delivery=lambda err, m: acked.append((m.key().decode(), m.partition(), m.offset())))
    assert producer.flush(60) == 0 and len(acked) == 300
    wait_sink_caught_up(acked)
    assert_state(r, honest)
    reasons = dlq_reasons(f"skew-{run}-", 100)
    assert len(reasons) == 100, f"{len(reasons)} of the 100 future-stamped updates in the DLQ"
    assert all(v.startswith("timestamp: is ") and "ahead of the sink's clock" in v for v in reasons.values()), reasons


def wait_tasks_moved_off(host: str, timeout: float) -> None:
    """Until the connector and every task run, none of them on the killed worker of `host`."""
    wait_until(lambda: (lambda s: s["connector"]["state"] == "RUNNING" and s["tasks"]
                        and all(t["state"] == "RUNNING" and not t["worker_id"].startswith(HOSTS[host])
                                for t in s["tasks"]))(connector_status("redis-sink", via="kafka1")),
               timeout, interval=2, what=f"tasks to move off the killed worker on {host}")


def test_killed_worker_loses_nothing(r: redis.Redis) -> None:
    _, updates = fresh_drivers("kw", 77, "2026-11-22T11:00:00Z", 30_000)
    acked: list[tuple[str, int, int]] = []
    sender = Sender(BOOTSTRAP, TOPIC, extra=kafka_conf(), on_ack=lambda m: acked.append((m.key().decode(), m.partition(), m.offset())))
    killed = False
    start = time.monotonic()
    for i, (key, update) in enumerate(updates):
        # ~3,000 updates/s for ~10 s; the worker on kafka3 dies a third of the way in.
        while i > (time.monotonic() - start) * 3000:
            sender.poll(0.005)
        sender.send(key, update)
        if not killed and i == 10_000:
            # SIGKILL, then stop so systemd does not bring it back before the test looks.
            ssh("kafka3", "kill -KILL $(systemctl show -p MainPID --value kafka-connect); systemctl stop kafka-connect")
            killed = True
    assert sender.flush(60) == 0 and sender.stats.failed == 0 and len(acked) == 30_000
    try:
        # The group notices the lost member and reassigns its tasks to the two survivors.
        wait_tasks_moved_off("kafka3", 120)
        wait_sink_caught_up(acked, timeout=180)
        latest = {}
        for key, u in updates:
            latest[key] = u
        assert_state(r, latest)
    finally:
        ssh("kafka3", "systemctl start kafka-connect")


def replay_markers(r: redis.Redis) -> dict[int, str]:
    """The sink's cache marker of each driver-locations partition (docs/contracts.md, drivers:replay)."""
    return {int(f.rsplit(":", 1)[1]): v for f, v in r.hgetall("drivers:replay").items() if f.startswith(TOPIC + ":")}


def test_a_worker_killed_mid_replay_hands_its_replay_on(r: redis.Redis) -> None:
    """Redis loses this test's drivers and the sink's cache markers; every partition replays from
    offset 0. The worker on kafka3 is SIGKILLed while its partitions replay and kept down: the
    survivors take those partitions and go on from each marker's done= offset — not from the
    committed offsets, which Connect may have moved past the rewind — and every driver is back with
    its latest update."""
    prefix = f"mr{uuid.uuid4().hex[:6]}-"
    # 150,000 records of 50,000 drivers: a replay long enough for the kill to land inside it.
    updates = list(Simulator(50_000, seed=808, id_prefix=prefix + "driver-").rounds(start_of("2026-11-22T12:00:00Z"), 150_000))
    acked = send_updates(updates)
    wait_sink_caught_up(acked, timeout=300)
    latest = dict(updates)

    began = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    ids = list(latest)
    for i in range(0, len(ids), 5_000):
        pipe = r.pipeline(transaction=False)
        pipe.unlink(*[f"driver:{d}" for d in ids[i:i + 5_000]])
        for key in GEO_KEYS.values():
            pipe.zrem(key, *ids[i:i + 5_000])
        pipe.execute()
    r.delete("drivers:replay")
    try:
        # Every task has found its markers gone once each of the 12 partitions has one again.
        deadline = time.monotonic() + 30
        while len(replay_markers(r)) < 12:
            assert time.monotonic() < deadline, f"the tasks never began to replay: {replay_markers(r)}"
            time.sleep(0.05)
        ssh("kafka3", "kill -KILL $(systemctl show -p MainPID --value kafka-connect); systemctl stop kafka-connect")
        # The dead task's replays stop where they were: a live task rewrites its markers' done= every second.
        first = replay_markers(r)
        time.sleep(6)
        second = replay_markers(r)
        handed = {p for p, v in second.items() if v.startswith("replaying") and v == first.get(p)}
        assert handed, f"kafka3's task had finished its replays before the kill: nothing to hand on ({first})"

        wait_tasks_moved_off("kafka3", 180)
        wait_until(lambda: (lambda m: len(m) == 12 and all(v.startswith("live") for v in m.values()))(replay_markers(r)),
                   300, interval=2, what="every partition's replay to finish")
        logs = "".join(ssh(h, f"awk '$0 >= \"[{began}\"' /var/log/kafka-connect/connect.log | grep 'Going on with the replay' || true").stdout
                       for h in ("kafka1", "kafka2"))
        for p in handed:
            assert f"{TOPIC}-{p} from offset " in logs, f"no survivor went on with {TOPIC}-{p} from its marker: {logs!r}"
        assert_state(r, latest)
    finally:
        ssh("kafka3", "systemctl start kafka-connect")


def test_bad_connector_config_is_refused_by_the_rest_api() -> None:
    body = json.dumps({"name": "bad-sink", "connector.class": "io.rastro.connect.redis.RedisSinkConnector", "topics": TOPIC,
                       "redis.host": "", "redis.port": "70000", "redis.batch.size": "0"}).encode()
    result = rest("PUT", "/connector-plugins/RedisSinkConnector/config/validate", json.loads(body))
    errors = {c["value"]["name"]: c["value"]["errors"] for c in result["configs"] if c["value"]["errors"]}
    assert result["error_count"] == 3, errors
    assert "must be set when redis.sentinels is empty" in errors["redis.host"][0]
    assert "70000" in errors["redis.port"][0]
    assert "Value must be at least 1" in errors["redis.batch.size"][0]
