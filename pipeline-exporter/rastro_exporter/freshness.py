"""Driver-state freshness: how old the newest update in Redis is, how many drivers Redis holds, and
whether the sink is rebuilding it (its cache markers).

The age of the newest `driver:*` hash is the end-to-end freshness of the pipeline: the producer
stamps each update when it is made, so a stalled producer, broker, worker or Redis all show up
as a growing age."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Iterator, Optional

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

KEY_PATTERN = "driver:*"
GEO_KEY = "drivers:geo"
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


def newest(timestamps: list[Optional[str]]) -> Optional[str]:
    # The contract fixes one format (milliseconds, 'Z'), so the lexical maximum is the newest.
    present = [t for t in timestamps if t]
    return max(present) if present else None


class FreshnessCollector(Collector):
    def __init__(self, client: redis.Redis, max_keys: int = 200_000, batch: int = 1000) -> None:
        self._redis = client
        self._max_keys = max_keys
        self._batch = batch

    def _scan(self) -> tuple[int, Optional[str], bool]:
        """(driver keys seen, newest timestamp, truncated at max_keys)."""
        count = 0
        best: Optional[str] = None
        keys: list[str] = []

        def flush() -> None:
            nonlocal best
            pipe = self._redis.pipeline(transaction=False)
            for k in keys:
                pipe.hget(k, "timestamp")
            best = newest([best, *pipe.execute()])
            keys.clear()

        for key in self._redis.scan_iter(match=KEY_PATTERN, count=self._batch):
            count += 1
            keys.append(key)
            if len(keys) >= self._batch:
                flush()
            if count >= self._max_keys:
                break
        if keys:
            flush()
        return count, best, count >= self._max_keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("rastro_exporter_freshness_up", "1 if the last freshness scrape reached Redis")
        try:
            count, best, truncated = self._scan()
            geo = self._redis.zcard(GEO_KEY)
            markers = self._redis.hgetall(REPLAY_KEY)
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        yield GaugeMetricFamily("rastro_driver_state_keys", "driver:* hashes in Redis (one per driver)", value=count)
        yield GaugeMetricFamily("rastro_driver_state_geo_members", "Members of drivers:geo", value=geo)
        yield GaugeMetricFamily("rastro_driver_state_scan_truncated",
                                "1 if the key scan stopped at its limit (counts are lower bounds)", value=int(truncated))
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
        if best is not None:
            ts = parse_timestamp(best)
            yield GaugeMetricFamily("rastro_driver_state_newest_update_timestamp_seconds",
                                    "Timestamp of the newest update in Redis", value=ts)
            yield GaugeMetricFamily("rastro_driver_state_newest_update_age_seconds",
                                    "Now minus the timestamp of the newest update in Redis", value=max(time.time() - ts, 0.0))
        up.add_metric([], 1)
        yield up
