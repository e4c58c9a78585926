"""The lab's Prometheus, over its HTTP API."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

from tests.lib.lab import HOSTS

PROMETHEUS = f"http://{HOSTS['kafka3']}:9090"


def api(path: str, **params: str) -> Any:
    url = f"{PROMETHEUS}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=15) as resp:
        body = json.load(resp)
    if body.get("status") != "success":
        raise AssertionError(f"Prometheus {path} {params}: {body}")
    return body["data"]


def query(expr: str) -> list[dict[str, Any]]:
    return api("query", query=expr)["result"]


def targets() -> list[dict[str, Any]]:
    return api("targets", state="active")["activeTargets"]


def firing_alerts() -> dict[str, list[dict[str, str]]]:
    """alertname → labels of each firing instance."""
    out: dict[str, list[dict[str, str]]] = {}
    for a in api("alerts")["alerts"]:
        if a["state"] == "firing":
            out.setdefault(a["labels"]["alertname"], []).append(a["labels"])
    return out


def urp_now() -> float:
    """Under-replicated partitions across the cluster now (-1: no data)."""
    r = query("sum(kafka_server_under_replicated_partitions)")
    return float(r[0]["value"][1]) if r else -1
