"""rastro_producer.metrics_http: HTTPS with basic authentication on loopback, against a real TLS client."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from rastro_producer import metrics_http


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


def users_file(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "users"
    p.write_text("\n".join(lines) + "\n")
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(cert: tuple[Path, Path], tmp_path: Path):
    registry = CollectorRegistry()
    Counter("probe_total", "a counter", registry=registry).inc(3)
    users = users_file(tmp_path, ["# scraper", f"prometheus:sha256:s4lt:{metrics_http.password_hash('right', 's4lt')}"])
    port = free_port()
    httpd = metrics_http.serve(port, "127.0.0.1", registry, str(cert[0]), str(cert[1]), str(users))
    yield port
    httpd.shutdown()
    httpd.server_close()


def get(port: int, cafile: Path, auth: str | None) -> tuple[int, str]:
    req = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_right_password_reads_the_metrics(server: int, cert: tuple[Path, Path]) -> None:
    status, body = get(server, cert[0], "prometheus:right")
    assert status == 200 and "probe_total 3.0" in body
    # The accepted header is remembered; a second scrape is served the same.
    assert get(server, cert[0], "prometheus:right")[0] == 200


@pytest.mark.parametrize("auth", [None, "prometheus:wrong", "nobody:right", "prometheus", ""])
def test_missing_or_wrong_credentials_get_401(server: int, cert: tuple[Path, Path], auth: str | None) -> None:
    assert get(server, cert[0], auth)[0] == 401


def test_plaintext_http_gets_no_metrics_and_the_server_keeps_serving(server: int, cert: tuple[Path, Path]) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        try:
            answer = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            answer = b""
    assert b"probe_total" not in answer and not answer.startswith(b"HTTP/")
    # A client that connects and says nothing does not stall the others.
    with socket.create_connection(("127.0.0.1", server), timeout=5):
        assert get(server, cert[0], "prometheus:right")[0] == 200


@pytest.mark.parametrize("line, message", [
    ("prometheus:sha256:salt", "expected user:sha256:salt:hash"),
    ("prometheus:md5:salt:" + "0" * 64, "algorithm 'md5' of user 'prometheus' is not sha256"),
    ("prometheus:sha256:salt:XYZ", "hash of user 'prometheus' is not 64 lowercase hex digits"),
])
def test_a_bad_users_file_names_the_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = users_file(tmp_path, ["# header", line])
    with pytest.raises(metrics_http.UsersFileError, match=f"{path}:2: {message}"):
        metrics_http.load_users(path)


def test_an_empty_users_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(metrics_http.UsersFileError, match="no user"):
        metrics_http.load_users(users_file(tmp_path, ["# nobody"]))


def test_a_certificate_without_its_key_is_refused(cert: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="both a certificate and a key"):
        metrics_http.serve(free_port(), "127.0.0.1", CollectorRegistry(), str(cert[0]), None, None)


def test_healthz_answers_the_services_own_status_without_credentials(cert: tuple[Path, Path], tmp_path: Path) -> None:
    users = users_file(tmp_path, [f"prometheus:sha256:s4lt:{metrics_http.password_hash('right', 's4lt')}"])
    state = {"ready": False}
    port = free_port()
    httpd = metrics_http.serve(port, "127.0.0.1", CollectorRegistry(), str(cert[0]), str(cert[1]), str(users),
                               health=lambda: (200, {"status": "ok"}) if state["ready"] else (503, {"status": "starting"}))
    try:
        ctx = ssl.create_default_context(cafile=str(cert[0]))
        def healthz() -> tuple[int, dict]:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=5, context=ctx) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())
        assert healthz() == (503, {"status": "starting"})
        state["ready"] = True
        assert healthz() == (200, {"status": "ok"})
        # /metrics still wants the password.
        assert get(port, cert[0], None)[0] == 401
    finally:
        httpd.shutdown()
        httpd.server_close()
