"""Redis's own geo arithmetic, for brute-force checks of the dispatch API's searches."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6372797.560856  # Redis's geohash_helper.c


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Redis's geohashGetDistance, step for step."""
    lon1r, lon2r = math.radians(lon1), math.radians(lon2)
    v = math.sin((lon2r - lon1r) / 2)
    if v == 0.0:
        return EARTH_RADIUS_M * abs(math.radians(lat2) - math.radians(lat1))
    lat1r, lat2r = math.radians(lat1), math.radians(lat2)
    u = math.sin((lat2r - lat1r) / 2)
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(u * u + math.cos(lat1r) * math.cos(lat2r) * v * v))


def brute_force(everyone: dict[str, tuple[str, float, float]], lat: float, lon: float, radius: float,
                status: str) -> list[tuple[float, str]]:
    """(distance, driver) of every driver of `status` ("any": all) within `radius` of the point, as
    everyone = driver → (status, lat, lon) places them; nearest first, equal distances (to the 0.1 mm
    Redis answers with) by id: the API's order."""
    found = [(haversine(lat, lon, la, lo), d) for d, (s, la, lo) in everyone.items()
             if (status == "any" or s == status) and haversine(lat, lon, la, lo) <= radius]
    return sorted(found, key=lambda x: (round(x[0], 4), x[1]))
