"""Every way an update can break the contract is refused, with the field and the value named."""

from __future__ import annotations

import json
import math

import pytest

from rastro_producer.contract import ContractError, deserialize, serialize, validate

GOOD = {"driver_id": "driver-0001", "latitude": -23.55, "longitude": -46.63,
        "timestamp": "2026-11-22T10:30:45.123Z", "status": "available"}


def bad(**changes):
    u = dict(GOOD)
    for k, v in changes.items():
        if v is ...:
            del u[k]
        else:
            u[k] = v
    return u


def test_good_update_passes() -> None:
    assert validate(GOOD) == GOOD


@pytest.mark.parametrize("update,field,fragment", [
    (bad(latitude=90.0001), "latitude", "between -90 and 90 (got 90.0001)"),
    (bad(latitude=-91), "latitude", "(got -91)"),
    (bad(longitude=180.5), "longitude", "between -180 and 180 (got 180.5)"),
    (bad(longitude=-181), "longitude", "(got -181)"),
    (bad(latitude=math.nan), "latitude", "between -90 and 90"),
    (bad(longitude=math.inf), "longitude", "between -180 and 180"),
    (bad(latitude="-23.5"), "latitude", "must be a number (got '-23.5')"),
    (bad(longitude=True), "longitude", "must be a number (got True)"),
    (bad(status="on-break"), "status", "one of available, busy, offline (got 'on-break')"),
    (bad(status=None), "status", "(got None)"),
    (bad(driver_id=...), "driver_id", "is required"),
    (bad(latitude=...), "latitude", "is required"),
    (bad(longitude=...), "longitude", "is required"),
    (bad(timestamp=...), "timestamp", "is required"),
    (bad(status=...), "status", "is required"),
    (bad(speed=12), "speed", "is not part of the contract (got 12)"),
    (bad(timestamp="2026-11-22T10:30:45Z"), "timestamp", "with milliseconds"),
    (bad(timestamp="2026-11-22T10:30:45.123+00:00"), "timestamp", "got '2026-11-22T10:30:45.123+00:00'"),
    (bad(timestamp="2026-02-30T10:30:45.123Z"), "timestamp", "is not a real date"),
    (bad(timestamp=1700000000000), "timestamp", "(got 1700000000000)"),
    (bad(driver_id=""), "driver_id", "(got '')"),
    (bad(driver_id="has space"), "driver_id", "(got 'has space')"),
    (bad(driver_id=42), "driver_id", "(got 42)"),
    (["not", "an", "object"], "update", "must be a JSON object"),
])
def test_bad_updates_are_refused(update, field: str, fragment: str) -> None:
    with pytest.raises(ContractError) as info:
        validate(update)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert fragment in str(info.value)


def test_key_must_equal_driver_id() -> None:
    with pytest.raises(ContractError, match=r"driver_id: must equal the record key 'driver-0002'"):
        validate(GOOD, key="driver-0002")


def test_serialize_gives_key_and_exact_fields() -> None:
    key, value = serialize(dict(reversed(list(GOOD.items()))))
    assert key == b"driver-0001"
    body = json.loads(value)
    assert list(body) == ["driver_id", "latitude", "longitude", "timestamp", "status"]
    assert body == GOOD
    assert b" " not in value  # compact


def test_serialize_refuses_invalid() -> None:
    with pytest.raises(ContractError, match="latitude"):
        serialize(bad(latitude=100))


def test_deserialize_round_trip_and_tombstone() -> None:
    key, value = serialize(GOOD)
    assert deserialize(key, value) == GOOD
    assert deserialize(key, None) is None
    with pytest.raises(ContractError, match="value: is not JSON"):
        deserialize(key, b"{nope")
    with pytest.raises(ContractError, match="must equal the record key"):
        deserialize(b"other", value)


NOW = 1795000000.0  # 2026-11-18T11:06:40Z


def stamped(seconds_from_now: float) -> dict:
    from datetime import datetime, timezone
    from rastro_producer.contract import format_timestamp
    return bad(timestamp=format_timestamp(datetime.fromtimestamp(NOW + seconds_from_now, timezone.utc)))


def test_an_update_too_far_ahead_of_the_clock_is_refused() -> None:
    with pytest.raises(ContractError) as info:
        validate(stamped(120.5), now=NOW)
    assert info.value.field == "timestamp"
    assert "is 120.500 s ahead of the clock, more than the 120 s allowed" in str(info.value)
    with pytest.raises(ContractError, match="timestamp: is 31536000.000 s ahead"):
        validate(stamped(365 * 86400), now=NOW)
    with pytest.raises(ContractError, match="more than the 0 s allowed"):
        validate(stamped(0.5), now=NOW, max_future_skew_s=0)


def test_an_update_within_the_skew_or_from_the_past_passes() -> None:
    assert validate(stamped(119.9), now=NOW)["timestamp"] == stamped(119.9)["timestamp"]
    assert validate(stamped(-86400), now=NOW)
    # Without `now`, the clock: an update stamped now passes, one a day ahead does not.
    import time
    from datetime import datetime, timezone
    from rastro_producer.contract import format_timestamp
    assert validate(bad(timestamp=format_timestamp(datetime.now(timezone.utc))))
    with pytest.raises(ContractError, match="ahead of the clock"):
        validate(bad(timestamp=format_timestamp(datetime.fromtimestamp(time.time() + 86400, timezone.utc))))
