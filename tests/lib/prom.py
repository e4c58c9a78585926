"""The lab's Prometheus and Alertmanager, over their HTTPS APIs, as the monitoring admin of
credentials/<inventory>/monitoring.properties."""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.error
import urllib.request
from functools import lru_cache
from typing import Any, Iterator

from rastro_producer import monitoring

from tests.lib.lab import CREDENTIALS


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


@contextlib.contextmanager
def local_proxy() -> Iterator[str]:
    """http://127.0.0.1:<port> forwarding GETs to Prometheus with the credentials: for a browser
    (chromium takes no password but on its command line, where `ps` would show it)."""
    m = mon()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            try:
                with urllib.request.urlopen(m.request(m.prometheus_url + self.path), timeout=30,
                                            context=m.context) as resp:
                    status, ctype, body = resp.status, resp.headers.get("Content-Type", ""), resp.read()
            except urllib.error.HTTPError as exc:
                status, ctype, body = exc.code, exc.headers.get("Content-Type", ""), exc.read()
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
