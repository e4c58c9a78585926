"""A loopback HTTP proxy for a browser: headless chromium would take credentials or a CA only on its
command line (where `ps` shows them), so it talks plain HTTP to 127.0.0.1 and this forwards each GET,
checked against the deployment's CA and with whatever authentication the caller adds."""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
import urllib.error
import urllib.request
from typing import Callable, Iterator, Optional

# The upstream request for a path and the browser's Authorization header (None when it sent none).
Upstream = Callable[[str, Optional[str]], urllib.request.Request]


@contextlib.contextmanager
def local_proxy(upstream: Upstream, context: Optional[ssl.SSLContext]) -> Iterator[str]:
    """http://127.0.0.1:<port> forwarding every GET to upstream(path, authorization)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            try:
                with urllib.request.urlopen(upstream(self.path, self.headers.get("Authorization")), timeout=30,
                                            context=context) as resp:
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
