"""rastro-exporter: lag arithmetic, timestamp parsing, the CLI's input checks, and the freshness
collector against a real redis-server."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipeline-exporter"))

from rastro_exporter.cli import main  # noqa: E402
from rastro_exporter.freshness import FreshnessCollector, parse_timestamp, replay_state  # noqa: E402
from rastro_exporter.lag import LagCollector, lags  # noqa: E402
from confluent_kafka import KafkaError, KafkaException, TopicPartition  # noqa: E402


def test_lag_is_log_end_minus_committed_for_committed_partitions_only() -> None:
    committed = {("t", 0): 90, ("t", 1): -1001, ("t", 2): 10}
    log_end = {("t", 0): 100, ("t", 1): 50, ("t", 2): 10}
    got = [(pl.partition, pl.committed, pl.lag) for pl in lags(committed, log_end, "g")]
    assert got == [(0, 90, 10), (2, 10, 0)]


def test_lag_is_never_negative() -> None:
    assert lags({("t", 0): 120}, {("t", 0): 100}, "g")[0].lag == 0


def test_parse_timestamp_reads_the_contract_format() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.500Z") == 1.5


def test_parse_timestamp_refuses_non_utc() -> None:
    with pytest.raises(ValueError, match="not UTC"):
        parse_timestamp("2026-11-22T10:30:45.123+01:00")


def test_cli_rejects_bootstrap_without_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bootstrap-servers", "kafka1"]) == 2
    assert "'kafka1' needs host:port" in capsys.readouterr().err


def test_cli_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--bootstrap-servers", "kafka1:9092", "--port", "70000"])
    assert exc.value.code == 2
    assert "port 70000 is outside 1..65535" in capsys.readouterr().err


class _Watermarks:
    """Stands in for the metadata consumer: partition 1's leader is down."""

    def get_watermark_offsets(self, tp, timeout: float, cached: bool) -> tuple[int, int]:
        if tp.partition == 1:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return 0, 100 + tp.partition


def test_a_partition_that_does_not_answer_does_not_hide_the_others() -> None:
    collector = LagCollector.__new__(LagCollector)
    collector._meta, collector._timeout, collector._pool = _Watermarks(), 0.1, ThreadPoolExecutor(8)
    low, high, failed = collector._log_ends([TopicPartition("t", p) for p in range(3)])
    assert high == {("t", 0): 100, ("t", 2): 102} and failed == 1


class _MovingLeader:
    """Partition 1's leader just moved (NOT_LEADER once, then it answers); topic "gone" was deleted
    after the listing; partition 2 of "t" times out every time."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def get_watermark_offsets(self, tp, timeout: float, cached: bool) -> tuple[int, int]:
        self.asked.append((tp.topic, tp.partition))
        if tp.topic == "gone":
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        if tp.partition == 1 and self.asked.count(("t", 1)) == 1:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        if tp.partition == 2:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT))
        return 0, 100 + tp.partition


def test_a_moved_leader_is_asked_again_a_deleted_topic_is_dropped_a_timeout_is_not_retried(monkeypatch) -> None:
    monkeypatch.setattr("rastro_exporter.lag.RETRY_PAUSE", 0)
    collector = LagCollector.__new__(LagCollector)
    collector._meta, collector._timeout, collector._pool = _MovingLeader(), 0.1, ThreadPoolExecutor(8)
    low, high, failed = collector._log_ends([TopicPartition("t", p) for p in range(3)] + [TopicPartition("gone", 0)])
    assert high == {("t", 0): 100, ("t", 1): 101}
    assert failed == 1  # only the partition that timed out
    assert collector._meta.asked.count(("t", 2)) == 1 and collector._meta.asked.count(("gone", 0)) == 2


def test_background_refresh_serves_up_0_when_kafka_is_unreachable() -> None:
    # Nothing listens on port 1: every refresh fails after its timeout; scrapes still answer at once.
    collector = LagCollector("127.0.0.1:1", timeout=0.5, interval=0.2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        started = time.monotonic()
        families = {f.name: f for f in collector.collect()}
        assert time.monotonic() - started < 0.2
        if "rastro_exporter_lag_up" in families:
            break
        time.sleep(0.2)
    assert families["rastro_exporter_lag_up"].samples[0].value == 0
    assert families["rastro_exporter_lag_age_seconds"].samples[0].value >= 0
    assert "kafka_consumergroup_lag" not in families


def test_replay_state_counts_live_and_replaying_partitions_and_the_records_left() -> None:
    markers = {"driver-locations:0": "live", "driver-locations:1": "replaying target=500 done=120 since=1",
               "driver-locations:2": "replaying target=80 done=80 since=1", "driver-locations:3": "replaying garbage",
               "driver-locations:4": "live replayed=1796540000500"}
    assert replay_state(markers) == (2, 3, 380, 1796540000.5)
    assert replay_state({}) == (0, 0, 0, 0.0)


def test_bad_sentinels_are_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--bootstrap-servers", "h:9092", "--redis-url", "redis://u@h:6379/0", "--redis-sentinels", "h1,h2:26379"])
    assert rc == 2
    assert "--redis-sentinels: 'h1' is not host:port" in capsys.readouterr().err


def metrics(collector: FreshnessCollector) -> dict[str, float]:
    return {s.name: s.value for family in collector.collect() for s in family.samples if not s.labels}


def test_freshness_comes_from_the_sinks_statistics_and_counts_from_a_scan(redis_server: redis.Redis) -> None:
    for i in range(25):
        redis_server.hset(f"driver:d{i}", "timestamp", "2026-11-22T10:30:45.123Z")
    redis_server.geoadd("drivers:geo:available", [-46.6, -23.5, "d0"])
    redis_server.geoadd("drivers:geo:busy", [-46.6, -23.5, "d1", -46.5, -23.5, "d2"])
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 3))
    redis_server.hset("drivers:stats", mapping={"newest": stamp, "applied": 1200, "deleted": 7})
    collector = FreshnessCollector(redis_server, batch=10)
    m = metrics(collector)
    assert m["rastro_driver_state_keys"] == 25
    by_status = {s.labels["status"]: s.value for f in collector.collect() for s in f.samples
                 if s.name == "rastro_driver_state_geo_members"}
    assert by_status == {"available": 1, "busy": 2, "offline": 0}
    assert m["rastro_driver_state_updates_applied_total"] == 1200
    assert m["rastro_driver_state_tombstones_applied_total"] == 7
    assert 2.5 < m["rastro_driver_state_newest_update_age_seconds"] < 10
    assert m["rastro_exporter_freshness_up"] == 1


def test_no_statistics_yet_means_no_age_and_zero_counts(redis_server: redis.Redis) -> None:
    m = metrics(FreshnessCollector(redis_server))
    assert "rastro_driver_state_newest_update_age_seconds" not in m
    assert m["rastro_driver_state_updates_applied_total"] == 0 and m["rastro_driver_state_keys"] == 0


def test_the_key_scan_runs_only_when_due(redis_server: redis.Redis) -> None:
    now = [100.0]
    c = FreshnessCollector(redis_server, scan_interval=15, clock=lambda: now[0])
    redis_server.hset("driver:a", "timestamp", "x")
    assert metrics(c)["rastro_driver_state_keys"] == 1
    redis_server.hset("driver:b", "timestamp", "x")
    now[0] += 14
    m = metrics(c)
    assert m["rastro_driver_state_keys"] == 1 and m["rastro_driver_state_counts_age_seconds"] == 14
    now[0] += 1
    assert metrics(c)["rastro_driver_state_keys"] == 2


def test_an_unreachable_redis_is_up_0() -> None:
    c = FreshnessCollector(redis.Redis(port=1, socket_connect_timeout=0.2))
    assert metrics(c) == {"rastro_exporter_freshness_up": 0}


class _SlowLeader:
    """Every partition's leader is down: each query waits its whole timeout, then times out."""

    def get_watermark_offsets(self, tp, timeout: float, cached: bool) -> tuple[int, int]:
        time.sleep(timeout)
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT))


def test_partitions_that_time_out_are_asked_side_by_side_not_one_after_another() -> None:
    collector = LagCollector.__new__(LagCollector)
    collector._meta, collector._timeout, collector._pool = _SlowLeader(), 0.3, ThreadPoolExecutor(8)
    started = time.monotonic()
    _, high, failed = collector._log_ends([TopicPartition("t", p) for p in range(8)])
    assert failed == 8 and high == {}
    assert time.monotonic() - started < 0.3 * 3, "eight timeouts in a row instead of side by side"


class _Closing:
    def __init__(self, conf: dict) -> None:
        self.group, self.closed = conf["group.id"], False

    def close(self) -> None:
        self.closed = True


def test_group_clients_are_bounded_least_recently_used_closed_first(monkeypatch) -> None:
    monkeypatch.setattr("rastro_exporter.lag.Consumer", _Closing)
    collector = LagCollector.__new__(LagCollector)
    from collections import OrderedDict
    collector._conf, collector._group_consumers, collector._max_group_clients = {}, OrderedDict(), 2
    a, b = collector._group_consumer("a"), collector._group_consumer("b")
    assert collector._group_consumer("a") is a  # a is now the most recently used
    c = collector._group_consumer("c")
    assert b.closed and not a.closed and not c.closed
    assert list(collector._group_consumers) == ["a", "c"]


def test_the_group_filter_and_its_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    class _Admin:
        broker_down = False

        def list_groups(self, timeout: float):
            from types import SimpleNamespace as G
            if self.broker_down:
                # What librdkafka answers while one broker is down (seen in a chaos kill).
                raise KafkaException(KafkaError(KafkaError._PARTIAL, "Failed to list groups: Local: Partial response"))
            return [G(id="rastro-connect", members=[1], protocol_type="connect"),
                    G(id="connect-redis-sink", members=[1, 2], protocol_type="consumer"),
                    G(id="console-consumer-1", members=[], protocol_type="consumer")]

    import re
    collector = LagCollector.__new__(LagCollector)
    collector._admin, collector._timeout, collector._group_pattern = _Admin(), 1, re.compile("connect-.*")
    collector._known_groups = None
    assert collector._groups() == ([("connect-redis-sink", 2)], None)
    # A broker down: the groups last listed are still reported, and why.
    collector._admin.broker_down = True
    groups, why = collector._groups()
    assert groups == [("connect-redis-sink", 2)] and "last listed" in why and "Partial response" in why
    # Never listed at all: the error stands.
    collector._known_groups = None
    with pytest.raises(KafkaException):
        collector._groups()
    for bad in (["--group-pattern", "(("], ["--max-group-clients", "0"]):
        with pytest.raises(SystemExit) as exc:
            main(["--bootstrap-servers", "kafka1:9092", *bad])
        assert exc.value.code == 2
        assert repr(bad[1]) in capsys.readouterr().err
