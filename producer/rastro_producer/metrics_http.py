"""Serve a Prometheus registry over HTTPS with HTTP basic authentication.

rastro's own exporters (the producer's :8000, rastro-exporter's :9308) use it so that their metrics
endpoints are secured like the others (docs/contracts.md, "Monitoring"). prometheus_client's own
start_http_server has no authentication.

The users file holds one `user:sha256:<salt>:<hex of SHA-256(salt + ":" + password)>` line per user,
the scheme the JMX exporter agents use too; roles render it, so no password is stored in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import ssl
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional, Union

from prometheus_client import REGISTRY
from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import CollectorRegistry

log = logging.getLogger(__name__)


class UsersFileError(ValueError):
    """A users file that cannot be used; the message names the file, the line and the field."""


def port(value: str) -> int:
    """argparse type of a TCP port to serve on: a number in 1..65535, else an error naming the value."""
    import argparse
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {value!r} is not a number") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"port {n} is outside 1..65535")
    return n


def password_hash(password: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


def load_users(path: Union[str, Path]) -> dict[str, tuple[str, str]]:
    """user → (salt, hash) from a users file."""
    users: dict[str, tuple[str, str]] = {}
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 4 or not parts[0]:
            raise UsersFileError(f"{path}:{n}: expected user:sha256:salt:hash")
        user, algorithm, salt, digest = parts
        if algorithm != "sha256":
            raise UsersFileError(f"{path}:{n}: algorithm {algorithm!r} of user {user!r} is not sha256")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise UsersFileError(f"{path}:{n}: hash of user {user!r} is not 64 lowercase hex digits")
        users[user] = (salt, digest)
    if not users:
        raise UsersFileError(f"{path}: no user")
    return users


class _Authenticator:
    """Checks an Authorization header; remembers the headers it accepted (scrapes repeat them)."""

    def __init__(self, users: dict[str, tuple[str, str]]) -> None:
        self.users = users
        self._accepted: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, header: Optional[str]) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        with self._lock:
            if header in self._accepted:
                return True
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        salt, digest = self.users.get(user, ("", ""))
        ok = bool(digest) and hmac.compare_digest(password_hash(password, salt), digest)
        if ok:
            with self._lock:
                if len(self._accepted) < 64:
                    self._accepted.add(header)
        return ok


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        # A plaintext client, a failed handshake or a client gone mid-request: not the server's fault.
        log.debug("metrics request from %s failed", client_address[0], exc_info=True)


def serve(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY,
          tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
          users_file: Optional[str] = None,
          health: Optional[Callable[[], tuple[int, dict[str, Any]]]] = None) -> ThreadingHTTPServer:
    """Start serving `registry` on addr:port in a daemon thread: HTTPS when tls_cert and tls_key are
    given, basic authentication when users_file is. With `health`, GET /healthz answers its
    (status, JSON body) without authentication (the rolling restarts ask it). Raises OSError,
    ssl.SSLError or UsersFileError."""
    if bool(tls_cert) != bool(tls_key):
        raise ValueError(f"TLS needs both a certificate and a key (certificate={tls_cert!r}, key={tls_key!r})")
    check = _Authenticator(load_users(users_file)) if users_file else None
    base = MetricsHandler.factory(registry)

    class Handler(base):  # type: ignore[misc, valid-type]
        timeout = 10  # seconds a client may take for the TLS handshake and its request

        def setup(self) -> None:
            super().setup()
            if tls_cert:  # here, in the connection's own thread: a silent client cannot stall accept()
                self.connection.do_handshake()

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if health and self.path.split("?", 1)[0] == "/healthz":
                status, body = health()
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if check and not check(self.headers.get("Authorization")):
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="rastro metrics"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's name)
            log.debug(format, *args)

    httpd = _Server((addr, port), Handler)
    if tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(tls_cert, tls_key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=httpd.serve_forever, name=f"metrics-{port}", daemon=True).start()
    log.info("metrics on %s://%s:%d%s", "https" if tls_cert else "http", addr, port,
             " with basic authentication" if check else "")
    return httpd
