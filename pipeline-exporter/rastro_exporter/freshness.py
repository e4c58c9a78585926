"""Driver-state freshness: how old the newest update in Redis is, how many drivers Redis holds, and
whether the sink is rebuilding it (its cache markers).

The age of the newest update the sink wrote is the end-to-end freshness of the pipeline: the producer
stamps each update when it is made, so a stalled producer, broker, worker or Redis all show up as a
growing age. The sink keeps that timestamp, and counts of its writes, in `drivers:stats` in the same
script call as the writes, so each scrape reads it in O(1); counting the drivers takes a key scan,
O(drivers), which runs at most every `scan_interval` seconds and never more than 1/20 of the time."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable, Iterator, Optional

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from rastro_producer.contract import GEO_KEYS

KEY_PATTERN = "driver:*"
# The sink's statistics (redis-sink, apply.lua): newest timestamp written, updates applied, tombstones applied.
STATS_KEY = "drivers:stats"
# The sink's cache markers (redis-sink, CacheReplay): field <topic>:<partition>, value "live",
# "live replayed=<epoch ms>" (after a replay) or "replaying target=<end offset> done=<records> since=<epoch ms>".
REPLAY_KEY = "drivers:replay"


def replay_state(markers: dict[str, str]) -> tuple[int, int, int, float]:
    """(partitions live, partitions replaying, records still to replay, epoch seconds the last replay
    ended or 0) from the marker hash."""
    live = replaying = remaining = 0
    last_end = 0.0
    for value in markers.values():
        fields = dict(part.split("=", 1) for part in value.split() if "=" in part)
        if value.split(" ", 1)[0] == "live":
            live += 1
            try:
                last_end = max(last_end, int(fields.get("replayed", 0)) / 1000)
            except ValueError:
                pass
            continue
        replaying += 1
        try:
            remaining += max(int(fields.get("target", 0)) - int(fields.get("done", 0)), 0)
        except ValueError:
            pass
    return live, replaying, remaining, last_end


def parse_timestamp(value: str) -> float:
    """Epoch seconds of an update's ISO-8601 UTC timestamp (docs/contracts.md: ...T10:30:45.123Z)."""
    if not value.endswith("Z"):
        raise ValueError(f"timestamp {value!r} is not UTC ('Z')")
    return datetime.fromisoformat(value[:-1] + "+00:00").timestamp()


class FreshnessCollector(Collector):
    def __init__(self, client: redis.Redis, max_keys: int = 200_000, batch: int = 1000,
                 scan_interval: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = client
        self._max_keys = max_keys
        self._batch = batch
        self._scan_interval = scan_interval
        self._clock = clock
        self._counts: Optional[tuple[int, dict[str, int], bool]] = None  # keys, geo members by status, truncated
        self._next_scan = 0.0
        self._counted_at = 0.0

    def _scan(self) -> tuple[int, bool]:
        """(driver keys seen, truncated at max_keys)."""
        count = 0
        for _ in self._redis.scan_iter(match=KEY_PATTERN, count=self._batch):
            count += 1
            if count >= self._max_keys:
                break
        return count, count >= self._max_keys

    def counts(self) -> tuple[int, dict[str, int], bool, float]:
        """(keys, geo members by status, truncated, age in seconds), rescanned when due."""
        now = self._clock()
        if self._counts is None or now >= self._next_scan:
            count, truncated = self._scan()
            pipe = self._redis.pipeline(transaction=False)
            for key in GEO_KEYS.values():
                pipe.zcard(key)
            geo = dict(zip(GEO_KEYS, pipe.execute()))
            took = self._clock() - now
            self._counts = (count, geo, truncated)
            self._counted_at = now
            self._next_scan = now + max(self._scan_interval, 20 * took)
        return (*self._counts, self._clock() - self._counted_at)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("rastro_exporter_freshness_up", "1 if the last freshness scrape reached Redis")
        try:
            stats = self._redis.hgetall(STATS_KEY)
            markers = self._redis.hgetall(REPLAY_KEY)
            count, geo, truncated, age = self.counts()
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        yield GaugeMetricFamily("rastro_driver_state_keys", "driver:* hashes in Redis (one per driver)", value=count)
        members = GaugeMetricFamily("rastro_driver_state_geo_members",
                                    "Members of the geo set of each status (drivers:geo:<status>)", labels=["status"])
        for status, n in geo.items():
            members.add_metric([status], n)
        yield members
        yield GaugeMetricFamily("rastro_driver_state_scan_truncated",
                                "1 if the key scan stopped at its limit (counts are lower bounds)", value=int(truncated))
        yield GaugeMetricFamily("rastro_driver_state_counts_age_seconds",
                                "Age of the driver counts (a key scan, repeated every few seconds)", value=age)
        for field, name, text in (("applied", "rastro_driver_state_updates_applied_total", "Updates the sink wrote to Redis"),
                                  ("deleted", "rastro_driver_state_tombstones_applied_total", "Tombstones the sink applied")):
            # Kept by the sink in drivers:stats: restarts from 0 when Redis lost its data (rate() handles that).
            yield CounterMetricFamily(name.removesuffix("_total"), text, value=_int(stats.get(field)))
        live, replaying, remaining, last_end = replay_state(markers)
        parts = GaugeMetricFamily("rastro_cache_partitions", "Partitions of driver-locations by cache state "
                                  "(live; replaying: the sink rebuilds Redis from the topic)", labels=["state"])
        parts.add_metric(["live"], live)
        parts.add_metric(["replaying"], replaying)
        yield parts
        yield GaugeMetricFamily("rastro_cache_replay_remaining_records",
                                "Records the running cache replays have still to write", value=remaining)
        yield GaugeMetricFamily("rastro_cache_last_replay_end_timestamp_seconds",
                                "When the last replay of a partition into Redis ended (0: none recorded)", value=last_end)
        best = stats.get("newest")
        if best:
            ts = parse_timestamp(best)
            yield GaugeMetricFamily("rastro_driver_state_newest_update_timestamp_seconds",
                                    "Timestamp of the newest update the sink wrote to Redis", value=ts)
            yield GaugeMetricFamily("rastro_driver_state_newest_update_age_seconds",
                                    "Now minus the timestamp of the newest update the sink wrote to Redis",
                                    value=max(time.time() - ts, 0.0))
        up.add_metric([], 1)
        yield up


def _int(value: Optional[str]) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
