"""Kafka Connect REST helpers for tests."""

from __future__ import annotations

import json
import urllib.request

from tests.lib.lab import HOSTS


def rest(method: str, path: str, body: dict | None = None, via: str = "kafka1") -> dict | None:
    """One Connect REST call; the decoded answer, or None when it has no body."""
    req = urllib.request.Request(f"http://{HOSTS[via]}:8083{path}", method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def connector_status(name: str, via: str = "kafka1") -> dict:
    with urllib.request.urlopen(f"http://{HOSTS[via]}:8083/connectors/{name}/status", timeout=10) as resp:
        return json.loads(resp.read())
