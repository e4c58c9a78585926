"""The driver-location message contract (docs/contracts.md, schema/driver-location.schema.json).

Everything that reaches Kafka passes validate(): nothing invalid is ever produced.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

FIELDS = ("driver_id", "latitude", "longitude", "timestamp", "status")
STATUSES = ("available", "busy", "offline")
# Redis (docs/contracts.md, "Redis layout"): one geo set per status, a driver in its status's alone.
GEO_KEY = "drivers:geo"
GEO_KEYS = {status: f"{GEO_KEY}:{status}" for status in STATUSES}
_DRIVER_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
# An update stamped further ahead of the clock than this is refused: the sink keeps each driver's
# newest timestamp, so one such update would hold the driver until the clock caught up. The sink
# applies the same bound (its timestamp.max.future.skew.ms, 120000 by default).
MAX_FUTURE_SKEW_S = 120.0


class ContractError(ValueError):
    """An update that breaks the contract; the message names the field and the value."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}: {reason} (got {value!r})")


def format_timestamp(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-11-22T10:30:45.123Z."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def _number(update: Mapping[str, Any], field: str, low: float, high: float) -> None:
    value = update[field]
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(field, value, "must be a number")
    if not math.isfinite(value) or not low <= value <= high:
        raise ContractError(field, value, f"must be between {low:g} and {high:g}")


def validate(update: Any, key: Optional[str] = None, now: Optional[float] = None,
             max_future_skew_s: float = MAX_FUTURE_SKEW_S) -> dict[str, Any]:
    """Return the update if it meets the contract, else raise ContractError. `now` (epoch seconds,
    default the clock) and `max_future_skew_s` bound how far ahead its timestamp may be."""
    if not isinstance(update, Mapping):
        raise ContractError("update", update, "must be a JSON object")
    if len(update) != len(FIELDS) or not all(f in update for f in FIELDS):
        missing = [f for f in FIELDS if f not in update]
        if missing:
            raise ContractError(missing[0], None, "is required")
        extra = sorted(set(update) - set(FIELDS))
        raise ContractError(extra[0], update[extra[0]], "is not part of the contract")
    driver_id = update["driver_id"]
    if not isinstance(driver_id, str) or not _DRIVER_ID.match(driver_id):
        raise ContractError("driver_id", driver_id, "must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    if key is not None and key != driver_id:
        raise ContractError("driver_id", driver_id, f"must equal the record key {key!r}")
    _number(update, "latitude", -90, 90)
    _number(update, "longitude", -180, 180)
    ts = update["timestamp"]
    if not isinstance(ts, str) or not _TIMESTAMP.match(ts):
        raise ContractError("timestamp", ts, "must be ISO-8601 UTC with milliseconds, like 2026-11-22T10:30:45.123Z")
    try:
        # The regex fixed the shape; this C-speed parse rejects impossible dates (Feb 30, 25:00).
        at = datetime.fromisoformat(ts[:-1]).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise ContractError("timestamp", ts, "is not a real date and time") from None
    clock = time.time() if now is None else now
    if at - clock > max_future_skew_s:
        raise ContractError("timestamp", ts, f"is {at - clock:.3f} s ahead of the clock, more than the "
                                             f"{max_future_skew_s:g} s allowed")
    if update["status"] not in STATUSES:
        raise ContractError("status", update["status"], f"must be one of {', '.join(STATUSES)}")
    return dict(update)


def serialize(update: Mapping[str, Any], key: Optional[str] = None) -> tuple[bytes, bytes]:
    """(key, value) bytes for Kafka; validates first (against `key` too, when given).

    Formatted directly rather than through json.dumps (3x faster on the hot path): after
    validate(), driver_id, timestamp and status hold only characters that need no JSON escaping,
    and the coordinates are finite numbers whose repr() is valid JSON.
    """
    u = validate(update, key)
    driver_id = u["driver_id"]
    value = (f'{{"driver_id":"{driver_id}","latitude":{u["latitude"]!r},"longitude":{u["longitude"]!r},'
             f'"timestamp":"{u["timestamp"]}","status":"{u["status"]}"}}')
    return driver_id.encode(), value.encode()


def deserialize(key: bytes, value: Optional[bytes]) -> Optional[dict[str, Any]]:
    """Parse and validate a record; None for a tombstone."""
    if value is None:
        return None
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContractError("value", value[:80], f"is not JSON: {exc}") from None
    return validate(body, key.decode() if key is not None else None)
