"""The card-transaction contract (docs/contracts.md, schema/transaction.schema.json).

The generator produces nothing that fails validate(); the decision service sends what fails it to
the dead letter queue with the reason.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

# One timestamp format for the platform, the driver updates' (rastro-producer is a dependency);
# re-exported: the fraud modules and tools take it from here.
from rastro_producer.contract import format_timestamp  # noqa: F401

FIELDS = ("timestamp", "transaction_id", "user_id", "card_id", "site_id", "value", "location_id", "country")
# The largest single transaction the contract accepts (in the currency's units): a typo guard, not a limit.
MAX_VALUE = 1_000_000.0
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class TransactionError(ValueError):
    """A transaction that breaks the contract; the message names the field and the value."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {reason} (got {value!r})")


@lru_cache(maxsize=1)
def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (Debian's iso-codes, shipped in the package)."""
    text = resources.files("rastro_fraud").joinpath("countries.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def epoch(timestamp: str) -> float:
    """Seconds since the epoch of a contract timestamp (already validated)."""
    return datetime.fromisoformat(timestamp[:-1]).replace(tzinfo=timezone.utc).timestamp()


def _identifier(tx: Mapping[str, Any], field: str) -> None:
    value = tx[field]
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise TransactionError(field, value, "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'")


def validate(tx: Any) -> dict[str, Any]:
    """Return the transaction if it meets the contract, else raise TransactionError."""
    if not isinstance(tx, Mapping):
        raise TransactionError("transaction", tx, "must be a JSON object")
    missing = [f for f in FIELDS if f not in tx]
    if missing:
        raise TransactionError(missing[0], None, "is required")
    extra = sorted(set(tx) - set(FIELDS))
    if extra:
        raise TransactionError(extra[0], tx[extra[0]], "is not part of the contract")
    ts = tx["timestamp"]
    if not isinstance(ts, str) or not _TIMESTAMP.match(ts):
        raise TransactionError("timestamp", ts, "must be ISO-8601 UTC with milliseconds, like 2026-11-22T10:30:45.123Z")
    try:
        epoch(ts)
    except ValueError:
        raise TransactionError("timestamp", ts, "is not a valid date and time") from None
    for field in ("transaction_id", "user_id", "card_id", "site_id", "location_id"):
        _identifier(tx, field)
    value = tx["value"]
    # bool is an int in Python but not a number in JSON.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TransactionError("value", value, "must be a number")
    if not math.isfinite(value) or value <= 0:
        raise TransactionError("value", value, "must be a positive amount")
    if value > MAX_VALUE:
        raise TransactionError("value", value, f"must not exceed {MAX_VALUE:,.0f}")
    country = tx["country"]
    if not isinstance(country, str) or country not in countries():
        raise TransactionError("country", country, "must be an ISO 3166-1 alpha-2 country code, like PT")
    return dict(tx)
