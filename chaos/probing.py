"""What the chaos probers (api_prober, fraud_prober) share: the fault's timing as chaos.yml records
it, and percentiles of what they measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


def read_fault(path: Path) -> dict[str, Any]:
    """fault.json (fault, target, injected, restored), or {} while chaos.yml has not written it."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def percentile(values: list[float], q: float, empty: Optional[float] = None) -> Optional[float]:
    """The q-quantile (nearest rank, rounded to 0.1), or `empty` for no values."""
    if not values:
        return empty
    s = sorted(values)
    return round(s[min(int(q * len(s)), len(s) - 1)], 1)
