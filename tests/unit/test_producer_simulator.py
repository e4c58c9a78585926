"""The simulator: deterministic, inside its box, plausible, and always within the contract."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from rastro_producer.contract import parse_timestamp, validate
from rastro_producer.partitioning import murmur2, partition_for
from rastro_producer.simulator import SAO_PAULO, BoundingBox, Simulator, start_of


def take(sim: Simulator, n: int):
    return list(sim.rounds(start_of(None), n))


def test_same_seed_same_updates() -> None:
    assert take(Simulator(200, seed=7), 2000) == take(Simulator(200, seed=7), 2000)
    assert take(Simulator(200, seed=7), 500) != take(Simulator(200, seed=8), 500)


def test_updates_stay_in_the_box_and_meet_the_contract() -> None:
    box = BoundingBox(*SAO_PAULO)
    for key, update in take(Simulator(300, seed=1), 30000):
        assert update is not None
        validate(update, key)
        assert box.south <= update["latitude"] <= box.north
        assert box.west <= update["longitude"] <= box.east


def test_small_box_keeps_drivers_inside() -> None:
    box = BoundingBox(-23.551, -46.634, -23.549, -46.632)  # about 200 m across
    for _, update in take(Simulator(20, bbox=box, seed=3), 5000):
        assert box.south - 1e-6 <= update["latitude"] <= box.north + 1e-6
        assert box.west - 1e-6 <= update["longitude"] <= box.east + 1e-6


def test_speeds_are_plausible_and_time_moves_forward() -> None:
    last: dict = {}
    moved = 0
    for _, u in take(Simulator(100, seed=5), 20000):
        t = parse_timestamp(u["timestamp"])
        if u["driver_id"] in last:
            pu, pt = last[u["driver_id"]]
            dt = (t - pt).total_seconds()
            assert dt > 0
            dy = (u["latitude"] - pu["latitude"]) * 111_320
            dx = (u["longitude"] - pu["longitude"]) * 111_320 * math.cos(math.radians(u["latitude"]))
            speed_kmh = math.hypot(dx, dy) / dt * 3.6
            assert speed_kmh <= 61, (u, pu, speed_kmh)
            moved += speed_kmh > 1
        last[u["driver_id"]] = (u, t)
    assert moved > 10000  # most reports show a moving driver


def test_every_driver_reports_once_per_interval() -> None:
    sim = Simulator(50, seed=2, interval_s=4.0)
    stamps = defaultdict(list)
    for _, u in take(sim, 500):
        stamps[u["driver_id"]].append(parse_timestamp(u["timestamp"]))
    assert len(stamps) == 50
    for times in stamps.values():
        gaps = {round((b - a).total_seconds(), 2) for a, b in zip(times, times[1:])}
        assert gaps <= {3.99, 4.0, 4.01}


def test_statuses_change_among_the_three() -> None:
    statuses = {u["status"] for _, u in take(Simulator(100, seed=9), 20000)}
    assert statuses == {"available", "busy", "offline"}


def test_deactivation_sends_tombstones() -> None:
    updates = take(Simulator(100, seed=4, deactivate_rate=0.5), 20000)
    tombstones = [k for k, u in updates if u is None]
    assert tombstones and all(k.startswith("driver-") for k in tombstones)


@pytest.mark.parametrize("drivers,interval,rate,message", [
    (0, 4.0, 0.0, "drivers: must be at least 1 (got 0)"),
    (10, 0, 0.0, "interval: must be positive seconds (got 0)"),
    (10, 4.0, 1.5, "deactivate_rate: must be between 0 and 1 (got 1.5)"),
])
def test_bad_settings_are_named(drivers: int, interval: float, rate: float, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Simulator(drivers, interval_s=interval, deactivate_rate=rate)


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "10,0,5,1", "0,10,1,5", "-95,0,0,1"])
def test_bad_bbox_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"bbox: .*got '{text}'"):
        BoundingBox.parse(text)


def test_murmur2_matches_kafka() -> None:
    # Vectors from Kafka's UtilsTest.testMurmur2.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971


def test_same_driver_same_partition() -> None:
    seen: dict = {}
    for key, _ in take(Simulator(1000, seed=11), 5000):
        p = partition_for(key, 12)
        assert 0 <= p < 12
        assert seen.setdefault(key, p) == p
    spread = defaultdict(int)
    for p in seen.values():
        spread[p] += 1
    assert len(spread) == 12 and min(spread.values()) > 40  # 1000 drivers over 12 partitions
