"""The driver state in Redis (docs/contracts.md, "Redis layout"), read for the API.

Reads go to a replica the Sentinels name (they may trail the primary by the replication lag, a
fraction of a second); a request asking for strong consistency reads the primary. A nearby search
is one script call: the GEOSEARCH of the status's geo set and each found driver's hash, read in the
same atomic step, so a driver who just turned busy is neither offered as available nor read twice."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from redis.asyncio import Redis
from rastro_producer.contract import GEO_KEYS, STATUSES

FIELDS = ("driver_id", "latitude", "longitude", "timestamp", "status")
KEY_PREFIX = "driver:"
STATS_KEY = "drivers:stats"

# KEYS = the geo sets searched; ARGV = lon, lat, radius in m, limit, hash key prefix, the status
# searched ('' for several). Returns {driver_id, distance, latitude, longitude, timestamp, status}
# per driver, nearest first (ties by id).
NEARBY = """
local found = {}
for _, key in ipairs(KEYS) do
  local res = redis.call('GEOSEARCH', key, 'FROMLONLAT', ARGV[1], ARGV[2], 'BYRADIUS', ARGV[3], 'm',
                         'ASC', 'COUNT', ARGV[4], 'WITHDIST')
  for _, r in ipairs(res) do
    found[#found + 1] = {r[1], tonumber(r[2]), r[2]}
  end
end
-- Nearest first; equal distances (to Redis's 0.1 mm) by driver id, so that answers are repeatable.
table.sort(found, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
local out = {}
for i = 1, #found do
  if #out >= tonumber(ARGV[4]) then break end
  local id = found[i][1]
  local h = redis.call('HMGET', ARGV[5] .. id, 'latitude', 'longitude', 'timestamp', 'status')
  -- The sink moves a driver between sets with its hash in one call: a mismatch cannot be seen here,
  -- and would be skipped rather than offered.
  if h[3] and (ARGV[6] == '' or h[4] == ARGV[6]) then
    out[#out + 1] = {id, found[i][3], h[1], h[2], h[3], h[4]}
  end
end
return out
"""

_LAT_MIN, _LAT_MAX = -85.05112878, 85.05112878
_CELLS = float(1 << 26)


def _even_bits(v: int) -> int:
    """The bits at even positions of a 52-bit interleaved geohash, packed."""
    v &= 0x5555555555555555
    v = (v | (v >> 1)) & 0x3333333333333333
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF
    return (v | (v >> 16)) & 0x00000000FFFFFFFF


def decode_geohash(score: float) -> tuple[float, float]:
    """(latitude, longitude) of a geo set member's score: the centre of its 52-bit cell, as GEOPOS
    answers (Redis geohash.c: latitude on the even bits, longitude on the odd ones)."""
    bits = int(score)
    lat = _LAT_MIN + (_even_bits(bits) + 0.5) / _CELLS * (_LAT_MAX - _LAT_MIN)
    lon = -180.0 + (_even_bits(bits >> 1) + 0.5) / _CELLS * 360.0
    return lat, lon


def age_ms(timestamp: str, now: Optional[float] = None) -> int:
    """Milliseconds since an update's ISO-8601 UTC timestamp (negative if it is ahead of this clock)."""
    t = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    return round(((time.time() if now is None else now) - t) * 1000)


def state(driver_id: str, latitude: str, longitude: str, timestamp: str, status: str,
          now: Optional[float] = None) -> dict[str, Any]:
    return {"driver_id": driver_id, "latitude": float(latitude), "longitude": float(longitude),
            "timestamp": timestamp, "status": status, "age_ms": age_ms(timestamp, now)}


@dataclass
class DriverStore:
    """`replica` for reads that may trail the primary a little, `primary` for strong reads."""

    replica: Redis
    primary: Redis

    def _client(self, strong: bool) -> Redis:
        return self.primary if strong else self.replica

    async def driver(self, driver_id: str, strong: bool = False) -> Optional[dict[str, Any]]:
        values = await self._client(strong).hmget(KEY_PREFIX + driver_id, *FIELDS)
        if values[3] is None:
            return None
        return state(driver_id, values[1], values[2], values[3], values[4])

    async def nearby(self, lat: float, lon: float, radius_m: float, status: str, limit: int,
                     strong: bool = False) -> list[dict[str, Any]]:
        keys = list(GEO_KEYS.values()) if status == "any" else [GEO_KEYS[status]]
        # The same meridian: Redis 7.0 searching from exactly +180 misses members just west of it
        # (measured: from -180 it finds both sides).
        if lon == 180.0:
            lon = -180.0
        rows = await self._client(strong).eval_ro(NEARBY, len(keys), *keys, repr(lon), repr(lat), repr(radius_m),
                                                  limit, KEY_PREFIX, "" if status == "any" else status)
        now = time.time()
        return [{**state(r[0], r[2], r[3], r[4], r[5], now), "distance_m": float(r[1])} for r in rows]

    async def points(self, max_per_status: int) -> tuple[dict[str, list[list[float]]], dict[str, int]]:
        """Every driver's position by status, from the geo sets' scores (no hash read): at most
        max_per_status per status; and each set's size."""
        pipe = self.replica.pipeline(transaction=False)
        for key in GEO_KEYS.values():
            pipe.zcard(key)
            pipe.zrange(key, 0, max_per_status - 1, withscores=True)
        replies = await pipe.execute()
        counts, points = {}, {}
        for i, status in enumerate(STATUSES):
            counts[status] = int(replies[2 * i])
            points[status] = [[round(c, 6) for c in decode_geohash(score)] for _, score in replies[2 * i + 1]]
        return points, counts

    async def newest_age_s(self) -> Optional[float]:
        """Age of the newest update the sink wrote (drivers:stats), None before the first."""
        newest = await self.replica.hget(STATS_KEY, "newest")
        return None if newest is None else age_ms(newest) / 1000
