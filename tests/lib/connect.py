"""Kafka Connect REST helpers for tests."""

from __future__ import annotations

import json
import urllib.request

from tests.lib.lab import HOSTS


def connector_status(name: str, via: str = "kafka1") -> dict:
    with urllib.request.urlopen(f"http://{HOSTS[via]}:8083/connectors/{name}/status", timeout=10) as resp:
        return json.loads(resp.read())
