"""Query and path parameters of the dispatch API: each check names the parameter and the value it got."""

from __future__ import annotations

import math
import re
from typing import Mapping, Optional

from rastro_producer.contract import STATUSES

# Redis geo sets index latitudes within ±85.05112878 (Web Mercator): a search from beyond has no answer.
GEO_LAT_LIMIT = 85.05112878
MAX_RADIUS_M = 50_000.0
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
DEFAULT_STATUS = "available"
# `any` searches every status's geo set at once.
SEARCH_STATUSES = (*STATUSES, "any")
CONSISTENCY = ("eventual", "strong")
# The contract's driver_id (rastro_producer.contract).
DRIVER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class BadParameter(ValueError):
    """A parameter the API refuses: answered 400 with the name, the value and the reason."""

    def __init__(self, name: str, value: Optional[str], reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        shown = "missing" if value is None else repr(value)
        super().__init__(f"{name}: {reason} (got {shown})")

    def body(self) -> dict[str, object]:
        return {"error": "bad_parameter", "parameter": self.name, "value": self.value, "message": str(self)}


def driver_id(value: str) -> str:
    if not DRIVER_ID.match(value):
        raise BadParameter("driver_id", value, "must match ^[A-Za-z0-9._:-]{1,128}$ (the contract's driver_id)")
    return value


def number(query: Mapping[str, str], name: str, low: float, high: float, default: Optional[float] = None) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise BadParameter(name, raw, f"is required, a number between {low:g} and {high:g}")
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(name, raw, "must be a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadParameter(name, raw, f"must be between {low:g} and {high:g}")
    return value


def integer(query: Mapping[str, str], name: str, low: int, high: int, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(name, raw, "must be a whole number") from None
    if not low <= value <= high:
        raise BadParameter(name, raw, f"must be between {low} and {high}")
    return value


def choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw not in allowed:
        raise BadParameter(name, raw, f"must be one of {', '.join(allowed)}")
    return raw


def nearby(query: Mapping[str, str]) -> dict[str, object]:
    """lat, lon, radius_m, status, limit of GET /v1/drivers/nearby, checked."""
    return {
        "lat": number(query, "lat", -GEO_LAT_LIMIT, GEO_LAT_LIMIT),
        "lon": number(query, "lon", -180.0, 180.0),
        "radius_m": number(query, "radius_m", 1.0, MAX_RADIUS_M),
        "status": choice(query, "status", SEARCH_STATUSES, DEFAULT_STATUS),
        "limit": integer(query, "limit", 1, MAX_LIMIT, DEFAULT_LIMIT),
    }
