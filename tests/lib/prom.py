"""The lab's Prometheus and Alertmanager, over their HTTPS APIs, as the monitoring admin of
credentials/<inventory>/monitoring.properties."""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from typing import Any

from rastro_producer import monitoring

from tests.lib import proxy
from tests.lib.lab import CREDENTIALS

# Metric names, not label names (followed by a matcher) nor console template names (quoted).
METRIC = re.compile(r"\b((?:kafka|rastro|redis|node)_[a-z0-9_]+)(?![a-z0-9_]|\s*(?:=|!=|=~|!~)|\")")


@lru_cache(maxsize=1)
def mon() -> monitoring.Monitoring:
    return monitoring.load(CREDENTIALS / "monitoring.properties")


def api(path: str, **params: str) -> Any:
    try:
        return mon().prometheus(path, **params)
    except RuntimeError as exc:
        raise AssertionError(str(exc)) from None


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


def local_proxy() -> contextlib.AbstractContextManager[str]:
    """http://127.0.0.1:<port> forwarding GETs to Prometheus with the credentials: for a browser
    (chromium takes no password but on its command line, where `ps` would show it)."""
    m = mon()
    return proxy.local_proxy(lambda path, _auth: m.request(m.prometheus_url + path), m.context)
