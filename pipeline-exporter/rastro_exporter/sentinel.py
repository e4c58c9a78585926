"""Redis replication as the Sentinels see it: which of them answer, how many Sentinels and replicas
each knows, which server is the primary, and the failover epoch (it grows by one per failover)."""

from __future__ import annotations

from typing import Any, Iterator

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class SentinelCollector(Collector):
    def __init__(self, sentinels: list[tuple[str, int]], master: str, **client: Any) -> None:
        self._clients = {f"{h}:{p}": redis.Redis(host=h, port=p, decode_responses=True, **client) for h, p in sentinels}
        self._master = master

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("rastro_redis_sentinel_up", "1 if this Sentinel answered", labels=["sentinel"])
        others = GaugeMetricFamily("rastro_redis_sentinel_known_sentinels",
                                   "Other Sentinels this Sentinel knows and sees up", labels=["sentinel"])
        replicas = GaugeMetricFamily("rastro_redis_sentinel_replicas",
                                     "Replicas of the primary this Sentinel sees up", labels=["sentinel"])
        epoch = GaugeMetricFamily("rastro_redis_sentinel_config_epoch",
                                  "The primary's configuration epoch: one more per failover", labels=["sentinel"])
        primary = GaugeMetricFamily("rastro_redis_primary_info", "1 for the server this Sentinel names the primary",
                                    labels=["sentinel", "primary"])
        for name, client in self._clients.items():
            try:
                m = client.sentinel_master(self._master)
                down = [r for r in client.sentinel_slaves(self._master) if r.get("is_sdown") or r.get("is_odown")]
                peers = [s for s in client.sentinel_sentinels(self._master) if not s.get("is_sdown")]
            except (redis.RedisError, OSError):
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            others.add_metric([name], len(peers))
            replicas.add_metric([name], int(m.get("num-slaves", 0)) - len(down))
            epoch.add_metric([name], int(m.get("config-epoch", 0)))
            primary.add_metric([name, f"{m.get('ip')}:{m.get('port')}"], 1)
        yield from (up, others, replicas, epoch, primary)
