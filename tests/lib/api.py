"""The dispatch API as the deploy left it for the lab (credentials/<inventory>/api.properties), and a
loopback proxy for a browser (chromium would need the CA on its command line otherwise)."""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
import urllib.error
import urllib.request
from typing import Iterator

from rastro_dispatch.client import DispatchClient
from tests.lib.lab import CREDENTIALS

API_PROPERTIES = CREDENTIALS / "api.properties"


def client(timeout: float = 5.0) -> DispatchClient:
    return DispatchClient.from_credentials(API_PROPERTIES, timeout)


def operator_key() -> str:
    return (CREDENTIALS / "api-key").read_text().strip()


@contextlib.contextmanager
def local_proxy(base: str) -> Iterator[str]:
    """http://127.0.0.1:<port> forwarding GETs (with their Authorization header) to one API host,
    whose certificate is checked against the deployment's CA."""
    context = ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem"))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            req = urllib.request.Request(base + self.path)
            if self.headers.get("Authorization"):
                req.add_header("Authorization", self.headers["Authorization"])
            try:
                with urllib.request.urlopen(req, timeout=30, context=context) as resp:
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
