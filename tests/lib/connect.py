"""Kafka Connect REST helpers for tests and benchmarks: HTTPS and basic authentication with the
credentials site.yml leaves in credentials/<inventory>/connect-rest.properties."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from functools import lru_cache
from typing import Optional

from tests.lib.lab import CREDENTIALS, HOSTS


@lru_cache(maxsize=1)
def _credentials() -> dict[str, str]:
    from rastro_producer.kafka_config import read_properties
    return read_properties(CREDENTIALS / "connect-rest.properties")


def base_url(via: str = "kafka1") -> str:
    scheme = _credentials()["url"].split("://", 1)[0]
    return f"{scheme}://{HOSTS[via]}:8083"


def tls_context() -> Optional[ssl.SSLContext]:
    return ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem")) if base_url().startswith("https") else None


def request(method: str, path: str, body: Optional[dict] = None, via: str = "kafka1",
            auth: bool = True) -> urllib.request.Request:
    headers = {"Content-Type": "application/json"}
    if auth:
        c = _credentials()
        headers["Authorization"] = "Basic " + base64.b64encode(f"{c['user']}:{c['password']}".encode()).decode()
    return urllib.request.Request(base_url(via) + path, method=method, headers=headers,
                                  data=json.dumps(body).encode() if body is not None else None)


def rest(method: str, path: str, body: Optional[dict] = None, via: str = "kafka1") -> dict | None:
    """One Connect REST call; the decoded answer, or None when it has no body."""
    with urllib.request.urlopen(request(method, path, body, via), timeout=30, context=tls_context()) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def connector_status(name: str, via: str = "kafka1") -> dict:
    return rest("GET", f"/connectors/{name}/status", via=via)
