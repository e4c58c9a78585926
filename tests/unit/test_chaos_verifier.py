"""The chaos verifier's measurements, on hand-made acknowledgement logs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chaos.verifier import Ack, longest_gaps, main, p99, parse_properties  # noqa: E402


def ack(at: float, partition: int) -> Ack:
    return Ack(at=at, latency=0.01, key=b"k", value=b"v", partition=partition, offset=int(at * 10))


def test_unavailability_is_the_longest_silence_of_one_partition() -> None:
    # Partition 1 stalls 4 s while partition 0 keeps being acknowledged: clients writing to
    # partition 1 waited 4 s although acks never stopped overall.
    acks = [ack(t / 10, 0) for t in range(0, 100)] + [ack(1.0, 1), ack(1.1, 1), ack(5.1, 1), ack(5.2, 1)]
    gaps = longest_gaps(acks)
    assert gaps.overall == pytest.approx(0.1)
    assert gaps.worst == pytest.approx(4.0) and gaps.partition == 1
    assert (gaps.began, gaps.ended) == pytest.approx((1.1, 5.1))


def test_the_fault_window_ignores_a_stall_that_ended_before_the_fault() -> None:
    # Partition 0 stalls 3.1 s and recovers before the fault at t=6; partition 1 then stalls 2.1 s.
    acks = ([ack(t / 10, 0) for t in range(0, 10)] + [ack(t / 10, 0) for t in range(40, 100)]
            + [ack(t / 10, 1) for t in range(0, 61)] + [ack(t / 10, 1) for t in range(81, 100)])
    assert longest_gaps(acks).worst == pytest.approx(3.1)
    during = longest_gaps(acks, since=6.0)
    assert during.worst == pytest.approx(2.1) and during.partition == 1
    assert longest_gaps(acks, until=6.0).worst == pytest.approx(3.1)
    # A silence that began before the fault and ended after it belongs to the fault.
    assert longest_gaps(acks, since=3.5).worst == pytest.approx(3.1)


def test_p99_of_latencies() -> None:
    assert p99([float(i) for i in range(1, 101)]) == 100.0
    assert p99([]) is None


REDIS_CREDENTIALS = "host=x\nport=6379\nuser=admin\npassword=p\n"


@pytest.mark.parametrize("extra,redis,message", [
    (["--rate", "0"], REDIS_CREDENTIALS, "--rate must be positive (got 0.0)"),
    (["--tail-after-restore", "-1"], REDIS_CREDENTIALS, "--tail-after-restore must not be negative (got -1.0)"),
    (["-X", "linger.ms"], REDIS_CREDENTIALS, "-X 'linger.ms': expected KEY=VALUE"),
    ([], "host=x\nport=6379\n", "missing user, password"),
    (["--client-config", "/nonexistent/admin.properties"], REDIS_CREDENTIALS,
     "cannot read Kafka client config /nonexistent/admin.properties"),
    (["--ca-location", "/nonexistent/ca-bundle.pem"], REDIS_CREDENTIALS, "--ca-location /nonexistent/ca-bundle.pem: not a file"),
])
def test_verifier_refuses_bad_arguments_by_name(extra: list[str], redis: str, message: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "redis.properties").write_text(redis)
    base = ["--bootstrap", "x:9092", "--redis-credentials", str(tmp_path / "redis.properties"), "--duration", "10",
            "--fault-file", "/nonexistent", "--report-dir", str(tmp_path / "report")]
    with pytest.raises(SystemExit) as exc:
        main(base + extra)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_producer_properties_are_parsed() -> None:
    assert parse_properties(["linger.ms=5", "debug=topic,metadata", "client.id=a=b"]) == {
        "linger.ms": "5", "debug": "topic,metadata", "client.id": "a=b"}


def test_redis_measures_find_the_sink_s_longest_pause_and_the_idle_drivers_return() -> None:
    from chaos.verifier import redis_measures
    # (time, newest timestamp sampled, idle drivers present): writes stop at 101.5, resume at 104.
    samples = [(100.0, "a", 5), (101.0, "b", 5), (102.0, "b", 0), (103.0, "b", 0), (104.0, "c", 2),
               (105.0, "d", 5), (106.0, "d", 5), (120.0, "d", 5)]
    m = redis_measures(samples, 101.5, 5, produced_until=106.0)
    assert m == {"sink_write_pause_s": 2.5, "sink_paused_when_load_ended": False, "idle_drivers": 5,
                 "idle_drivers_lost": True, "idle_drivers_back_after_injection_s": 3.5}
    # Not one write between the fault and the end of the load (a wipe's replay outlasting it): the
    # pause is at least that long, and said to have lasted past it.
    samples = [(100.0, "a", 5), (101.0, "b", 5), (102.0, None, 0), (103.0, None, 0), (110.0, "c", 5)]
    m = redis_measures(samples, 101.5, 5, produced_until=106.0)
    assert m["sink_write_pause_s"] == 4.5 and m["sink_paused_when_load_ended"] is True
    assert m["idle_drivers_back_after_injection_s"] == 8.5
    # No idle driver ever missing: nothing came back, and nothing is claimed.
    m = redis_measures([(100.0, "a", 3), (102.0, "b", 3)], 101.0, 3, produced_until=102.0)
    assert m["idle_drivers_lost"] is False and m["idle_drivers_back_after_injection_s"] is None


def test_idle_drivers_are_counted_while_gone_and_back(redis_server) -> None:
    """sample_redis against a real Redis: all idle drivers there, some wiped, then back; the count
    follows, across the 1,000-key chunks (one short of many keys, counted whole; two short of a few,
    asked key by key), and only the short chunks are asked again."""
    import threading
    import time

    from chaos.verifier import IDLE_CHUNK, Run, sample_redis
    run = Run(active_ids=["a-1", "a-2"], idle_ids=[f"idle-{i:05d}" for i in range(2 * IDLE_CHUNK + 500)])
    for d in run.idle_ids + run.active_ids:
        redis_server.hset(f"driver:{d}", mapping={"timestamp": "2026-12-07T00:00:00Z"})
    stop = threading.Event()
    sampler = threading.Thread(target=sample_redis, args=(redis_server, run, stop), daemon=True)
    sampler.start()

    def seen(count: int) -> None:
        deadline = time.time() + 10
        while time.time() < deadline:
            if run.redis_samples and run.redis_samples[-1][2] == count:
                return
            time.sleep(0.1)
        raise AssertionError(f"idle count never reached {count}: {run.redis_samples[-3:]}")

    seen(len(run.idle_ids))
    gone = run.idle_ids[10:20] + run.idle_ids[-3:] + run.idle_ids[IDLE_CHUNK:IDLE_CHUNK + 200]
    redis_server.delete(*[f"driver:{d}" for d in gone])
    seen(len(run.idle_ids) - len(gone))
    for d in gone[:5] + gone[13:163]:
        redis_server.hset(f"driver:{d}", "timestamp", "2026-12-07T00:00:01Z")
    seen(len(run.idle_ids) - len(gone) + 155)
    for d in gone[5:13] + gone[163:]:
        redis_server.hset(f"driver:{d}", "timestamp", "2026-12-07T00:00:01Z")
    seen(len(run.idle_ids))
    stop.set()
    sampler.join(5)
    assert run.redis_samples[-1][1] == "2026-12-07T00:00:00Z"


def test_redis_mismatches_reads_in_chunks_and_names_each_wrong_driver(redis_server) -> None:
    """Against a real Redis, 2 drivers per round trip: a driver whose hash is right passes; one with
    another timestamp, one with another position and one missing are named."""
    from chaos.verifier import redis_mismatches
    want = {d: {"timestamp": "2026-12-07T00:00:00.000Z", "status": "busy", "latitude": -23.5, "longitude": -46.6}
            for d in ("ok", "late", "moved", "gone", "ok2")}
    for d in ("ok", "late", "moved", "ok2"):
        redis_server.hset(f"driver:{d}", mapping={k: str(v) for k, v in want[d].items()})
    redis_server.hset("driver:late", "timestamp", "2026-12-06T23:59:59.000Z")
    redis_server.hset("driver:moved", "latitude", "-23.6")
    assert redis_mismatches(redis_server, want, chunk=2) == ["late", "moved", "gone"]
