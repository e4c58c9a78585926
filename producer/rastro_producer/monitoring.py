"""HTTP access to Prometheus, Alertmanager and the metrics endpoints with the credentials the deploy
leaves in credentials/<inventory>/monitoring.properties: their URLs, the user and password, and with
tls=true the CA their certificates are checked against (docs/contracts.md, "Monitoring")."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from .kafka_config import ClientConfigError, read_properties


@dataclass(frozen=True)
class Monitoring:
    prometheus_url: str
    alertmanager_url: str
    user: str
    password: str = field(repr=False)
    cafile: Optional[str] = None

    @property
    def context(self) -> Optional[ssl.SSLContext]:
        return ssl.create_default_context(cafile=self.cafile) if self.cafile else None

    def request(self, url: str, authenticate: bool = True) -> urllib.request.Request:
        req = urllib.request.Request(url)
        if authenticate and self.password:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        return req

    def get(self, url: str, timeout: float = 15.0) -> bytes:
        """GET an absolute URL (any metrics endpoint of the deployment) with the credentials."""
        with urllib.request.urlopen(self.request(url), timeout=timeout, context=self.context) as resp:
            return resp.read()

    def prometheus(self, path: str, timeout: float = 15.0, **params: Any) -> Any:
        """The `data` of a Prometheus API answer, e.g. prometheus("query", query="up")."""
        url = f"{self.prometheus_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        body = json.loads(self.get(url, timeout))
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path} {params}: {body}")
        return body["data"]


def load(path: Union[str, Path]) -> Monitoring:
    """A Monitoring from a credentials file; the CA file is relative to the file's directory."""
    p = Path(path)
    props = read_properties(p)
    missing = [k for k in ("prometheus_url", "alertmanager_url", "user", "password") if k not in props]
    if missing:
        raise ClientConfigError(f"{p}: missing {', '.join(missing)}")
    tls = props.get("tls", "false").lower()
    if tls not in ("true", "false"):
        raise ClientConfigError(f"{p}: tls must be true or false (got {props['tls']!r})")
    cafile = None
    if tls == "true":
        ca = p.parent / props.get("cafile", "ca.pem")
        if not ca.is_file():
            raise ClientConfigError(f"{p}: cafile {ca} is not a file")
        cafile = str(ca)
    for key in ("prometheus_url", "alertmanager_url"):
        scheme = urllib.parse.urlsplit(props[key]).scheme
        if scheme != ("https" if cafile else "http"):
            raise ClientConfigError(f"{p}: {key} {props[key]!r} must be {'https' if cafile else 'http'}:// with tls={tls}")
    return Monitoring(props["prometheus_url"].rstrip("/"), props["alertmanager_url"].rstrip("/"), props["user"],
                      props["password"], cafile)
