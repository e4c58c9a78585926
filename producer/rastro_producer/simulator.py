"""Deterministic drivers moving along a street grid inside a city bounding box."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator, Optional

from .contract import format_timestamp

# São Paulo, roughly the expanded centre.
SAO_PAULO = (-23.70, -46.80, -23.45, -46.45)  # south, west, north, east
STREET_SPACING_M = 120.0  # a block, as in a dense street grid
METERS_PER_DEG_LAT = 111_320.0
# Per-report status transitions: a busy driver finishes a delivery, an available one takes one, etc.
TRANSITIONS = {
    "available": (("busy", 0.08), ("offline", 0.004)),
    "busy": (("available", 0.05), ("offline", 0.001)),
    "offline": (("available", 0.03),),
}
HEADINGS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # north, south, east, west on the grid


@dataclass
class BoundingBox:
    south: float
    west: float
    north: float
    east: float

    @classmethod
    def parse(cls, text: str) -> "BoundingBox":
        try:
            south, west, north, east = (float(x) for x in text.split(","))
        except ValueError:
            raise ValueError(f"bbox: expected 'south,west,north,east' as four numbers (got {text!r})") from None
        if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
            raise ValueError(f"bbox: need -90 <= south < north <= 90 and -180 <= west < east <= 180 (got {text!r})")
        return cls(south, west, north, east)


@dataclass
class Driver:
    driver_id: str
    lat: float
    lon: float
    heading: tuple[int, int]
    speed_mps: float
    status: str
    to_next_corner_m: float
    last_ts_ms: int = 0


class Simulator:
    """N drivers; step() advances one driver by the time since its last report."""

    def __init__(self, drivers: int = 1000, bbox: BoundingBox = BoundingBox(*SAO_PAULO),
                 seed: int = 42, interval_s: float = 4.0, deactivate_rate: float = 0.0,
                 id_prefix: str = "driver-") -> None:
        if drivers < 1:
            raise ValueError(f"drivers: must be at least 1 (got {drivers})")
        if interval_s <= 0:
            raise ValueError(f"interval: must be positive seconds (got {interval_s})")
        if not 0 <= deactivate_rate <= 1:
            raise ValueError(f"deactivate_rate: must be between 0 and 1 (got {deactivate_rate})")
        self.bbox = bbox
        self.interval_s = interval_s
        self.deactivate_rate = deactivate_rate
        self.rng = random.Random(seed)
        self._m_per_deg_lon = METERS_PER_DEG_LAT * math.cos(math.radians((bbox.south + bbox.north) / 2))
        width = len(str(drivers - 1))
        self.drivers = [self._spawn(f"{id_prefix}{i:0{max(width, 4)}d}") for i in range(drivers)]

    def _spawn(self, driver_id: str) -> Driver:
        r = self.rng
        lat = r.uniform(self.bbox.south, self.bbox.north)
        lon = r.uniform(self.bbox.west, self.bbox.east)
        # Snap one coordinate to a street so the driver starts on the grid.
        heading = r.choice(HEADINGS)
        if heading[0] == 0:
            lat = self._snap(lat, self.bbox.south, METERS_PER_DEG_LAT)
        else:
            lon = self._snap(lon, self.bbox.west, self._m_per_deg_lon)
        status = r.choices(("available", "busy", "offline"), weights=(6, 3, 1))[0]
        return Driver(driver_id, lat, lon, heading, r.uniform(15, 50) / 3.6, status,
                      r.uniform(0, STREET_SPACING_M))

    @staticmethod
    def _snap(value: float, origin: float, m_per_deg: float) -> float:
        step = STREET_SPACING_M / m_per_deg
        return origin + round((value - origin) / step) * step

    def _move(self, d: Driver, seconds: float) -> None:
        remaining = d.speed_mps * seconds
        while remaining > 0:
            leg = min(remaining, d.to_next_corner_m)
            d.lat += d.heading[0] * leg / METERS_PER_DEG_LAT
            d.lon += d.heading[1] * leg / self._m_per_deg_lon
            remaining -= leg
            d.to_next_corner_m -= leg
            if d.to_next_corner_m <= 1e-9:
                d.to_next_corner_m = STREET_SPACING_M
                # At a corner: mostly straight on, sometimes turn; never leave the box.
                if self.rng.random() < 0.3:
                    d.heading = self.rng.choice([h for h in HEADINGS if h != (-d.heading[0], -d.heading[1])])
            out_lat = not self.bbox.south <= d.lat <= self.bbox.north
            out_lon = not self.bbox.west <= d.lon <= self.bbox.east
            if out_lat or out_lon:
                d.lat = min(max(d.lat, self.bbox.south), self.bbox.north)
                d.lon = min(max(d.lon, self.bbox.west), self.bbox.east)
                d.heading = (-d.heading[0], -d.heading[1])
        # Traffic: speed drifts between 10 and 60 km/h.
        d.speed_mps = min(max(d.speed_mps + self.rng.gauss(0, 1.0), 10 / 3.6), 60 / 3.6)

    def _next_status(self, status: str) -> str:
        x = self.rng.random()
        for target, p in TRANSITIONS[status]:
            if x < p:
                return target
            x -= p
        return status

    def step(self, index: int, now_ms: int) -> tuple[str, Optional[dict]]:
        """Advance driver `index` to `now_ms`; return (driver_id, update or None for a tombstone)."""
        d = self.drivers[index]
        # Strictly increasing per driver, whatever the clock does.
        ts = max(now_ms, d.last_ts_ms + 1)
        elapsed = (ts - d.last_ts_ms) / 1000 if d.last_ts_ms else self.interval_s
        d.last_ts_ms = ts
        if d.status != "offline":
            self._move(d, min(elapsed, 60.0))
        d.status = self._next_status(d.status)
        if d.status == "offline" and self.deactivate_rate and self.rng.random() < self.deactivate_rate:
            return d.driver_id, None
        stamp = format_timestamp(datetime.fromtimestamp(ts / 1000, tz=timezone.utc))
        return d.driver_id, {
            "driver_id": d.driver_id,
            "latitude": round(d.lat, 6),
            "longitude": round(d.lon, 6),
            "timestamp": stamp,
            "status": d.status,
        }

    def rounds(self, start: datetime, count: int) -> Iterator[tuple[str, Optional[dict]]]:
        """`count` updates on a simulated clock from `start`: every driver once per interval,
        spread evenly across it. Deterministic for a given seed."""
        n = len(self.drivers)
        base_ms = int(start.timestamp() * 1000)
        spacing_ms = self.interval_s * 1000 / n
        for k in range(count):
            i = k % n
            yield self.step(i, base_ms + int(k * spacing_ms))


def start_of(text: Optional[str]) -> datetime:
    if text is None:
        return datetime(2026, 1, 1, tzinfo=timezone.utc)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


__all__ = ["BoundingBox", "Simulator", "SAO_PAULO", "start_of"]
