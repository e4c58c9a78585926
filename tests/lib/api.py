"""The dispatch API as the deploy left it for the lab (credentials/<inventory>/api.properties), and a
loopback proxy for a browser (chromium would need the CA on its command line otherwise)."""

from __future__ import annotations

import contextlib
import ssl
import urllib.request
from typing import Optional

from rastro_dispatch.client import DispatchClient
from tests.lib import proxy
from tests.lib.lab import CREDENTIALS

API_PROPERTIES = CREDENTIALS / "api.properties"


def client(timeout: float = 5.0) -> DispatchClient:
    return DispatchClient.from_credentials(API_PROPERTIES, timeout)


def operator_key() -> str:
    return (CREDENTIALS / "api-key").read_text().strip()


def local_proxy(base: str) -> contextlib.AbstractContextManager[str]:
    """http://127.0.0.1:<port> forwarding GETs (with their Authorization header) to one API host,
    whose certificate is checked against the deployment's CA."""
    def upstream(path: str, authorization: Optional[str]) -> urllib.request.Request:
        req = urllib.request.Request(base + path)
        if authorization:
            req.add_header("Authorization", authorization)
        return req
    return proxy.local_proxy(upstream, ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem")))
