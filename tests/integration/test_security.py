"""Secure by default: every Kafka listener refuses plaintext and strangers, Connect's REST API and
every monitoring endpoint need HTTPS and a password (redis_exporter: a client certificate), Redis speaks TLS only and takes only its ACL users, each principal is held to its ACLs, and no generated secret shows in `site.yml --diff`, in `ps` on any host or under artifacts/."""

from __future__ import annotations

import base64
import datetime
import hashlib
import socket
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import redis

from tests.lib import wire
from tests.lib.lab import CREDENTIALS, HOSTS, REPO, kafka_conf, redis_admin, ssh
from tests.lib.wire import API_VERSIONS

KAFKA1 = HOSTS["kafka1"]
# Kafka ports (docs/contracts.md): clients (SCRAM over TLS), KRaft controllers and brokers among
# themselves (mutual TLS).
CLIENT, CONTROLLER, INTERNAL = 9092, 9093, 9095


def secrets() -> dict[str, str]:
    """Every secret the lab generated (credentials/local/secrets/), and the SHA-256 form Redis keeps."""
    out = {}
    for f in sorted((CREDENTIALS / "secrets").iterdir()):
        value = f.read_text().split()[0]
        out[f.name] = value
        out[f"sha256({f.name})"] = hashlib.sha256(value.encode()).hexdigest()
    for key in sorted((CREDENTIALS / "pki").glob("*.key")):
        # A line from the middle of each private key's PEM body.
        body = [line for line in key.read_text().splitlines() if not line.startswith("-----")]
        out[f"private key {key.name}"] = body[len(body) // 2]
    assert len(out) >= 10, out.keys()
    return out


def leaked(text: str) -> list[str]:
    return [name for name, value in secrets().items() if value and value in text]


# --- transport: plaintext and strangers are refused -------------------------------------------

def plaintext_answer(port: int, host: str = KAFKA1, request: bytes = API_VERSIONS) -> bytes:
    """What a listener answers a plaintext request with (default: a Kafka ApiVersions request to kafka1)."""
    return wire.plaintext_answer(port, host, request)


@pytest.mark.parametrize("port", [CLIENT, CONTROLLER, INTERNAL])
def test_plaintext_kafka_is_refused(port: int) -> None:
    answer = plaintext_answer(port)
    # A Kafka answer would start with a 4-byte length and the correlation id 1; a TLS listener sends
    # an alert record (0x15) or closes.
    assert answer[4:8] != b"\x00\x00\x00\x01", f"port {port} answered plaintext Kafka: {answer!r}"
    assert answer == b"" or answer[:1] == b"\x15", f"port {port}: unexpected answer {answer!r}"


def stranger_certificate(tmp: Path) -> tuple[Path, Path]:
    """A key and a certificate from a CA that is not the deployment's, named like a node."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("kafka1")).issuer_name(name("rastro CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("kafka1")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp / "stranger.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    (tmp / "stranger.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return tmp / "stranger.crt", tmp / "stranger.key"


def tls_exchange(port: int, cert: tuple[Path, Path] | None) -> str:
    """'accepted' if the listener takes the TLS session and answers a Kafka request over it, else the error."""
    ctx = ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        with socket.create_connection((KAFKA1, port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=KAFKA1) as s:
                s.sendall(API_VERSIONS)
                answer = s.recv(64)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, socket.timeout) as exc:
        return f"refused: {exc}"
    return "accepted" if answer[4:8] == b"\x00\x00\x00\x01" else f"refused: closed ({answer!r})"


@pytest.mark.parametrize("port", [CONTROLLER, INTERNAL])
def test_mutual_tls_listeners_refuse_foreign_and_missing_certificates(port: int, tmp_path: Path) -> None:
    assert tls_exchange(port, stranger_certificate(tmp_path)).startswith("refused"), "foreign CA accepted"
    assert tls_exchange(port, None).startswith("refused"), "no client certificate accepted"


def test_client_listener_speaks_tls_with_the_deployment_ca() -> None:
    # The TLS layer itself is open to any client (SCRAM authenticates it next): the handshake against
    # credentials/local/ca.pem succeeds and the broker answers ApiVersions before authentication.
    assert tls_exchange(CLIENT, None) == "accepted"


def test_plaintext_http_to_connect_is_refused() -> None:
    answer = plaintext_answer(8083, request=b"GET /connectors HTTP/1.1\r\nHost: kafka1\r\n\r\n")
    assert not answer.startswith(b"HTTP/1.1 200"), f"Connect answered plaintext HTTP: {answer!r}"
    assert b"[" not in answer, answer


def test_plaintext_redis_is_refused() -> None:
    conn = redis_admin()
    answer = plaintext_answer(conn["port"], host=conn["host"], request=b"*1\r\n$4\r\nPING\r\n")
    # Plain RESP would answer +PONG or -NOAUTH; a TLS-only port answers nothing a client could read.
    assert not answer.startswith((b"+", b"-")), f"Redis answered plaintext RESP: {answer!r}"


def redis_login_error(**over: Any) -> str | None:
    conn = {**redis_admin(), **over}
    try:
        redis.Redis(**conn, socket_timeout=5).ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def test_redis_over_tls_needs_a_user_and_its_password() -> None:
    assert redis_login_error() is None
    assert redis_login_error(username=None, password=None) is not None, "no credentials accepted"
    assert "WRONGPASS" in (redis_login_error(password="not-the-password") or ""), "a wrong password accepted"
    # The default user is off, whatever password is offered for it.
    assert redis_login_error(username="default") is not None, "the default user is on"


def test_redis_refuses_a_server_certificate_check_against_another_ca(tmp_path: Path) -> None:
    crt, _ = stranger_certificate(tmp_path)
    error = redis_login_error(ssl_ca_certs=str(crt))
    assert error is not None and "certificate verify failed" in error, error


def https_status(url: str, auth: str | None = None, cert: tuple[Path, Path] | None = None) -> int | str:
    """The HTTP status of a GET over HTTPS (checked against the deployment CA, with basic auth
    "user:password" and a client certificate if given), or the TLS error."""
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    ctx = ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=15, context=ctx) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, ssl.SSLError, ConnectionResetError) as exc:
        return f"refused: {exc}"


def connect_status(auth: str | None) -> int | str:
    return https_status(f"https://{KAFKA1}:8083/connectors", auth)


def test_connect_rest_needs_https_and_a_password() -> None:
    from rastro_producer.kafka_config import read_properties
    creds = read_properties(CREDENTIALS / "connect-rest.properties")
    assert creds["url"].startswith("https://")
    assert connect_status(None) == 401
    assert connect_status(f"{creds['user']}:not-the-password") == 401
    assert connect_status(f"{creds['user']}:{creds['password']}") == 200


# --- monitoring: every metrics endpoint, Prometheus and Alertmanager over HTTPS with a password --

# (host, port) of every metrics endpoint and the monitoring UIs in inventories/local (docs/contracts.md).
BASIC_AUTH_ENDPOINTS = [("kafka3", 9090), ("kafka3", 9094), ("kafka1", 8000), ("kafka3", 9308)] + [
    (h, port) for h in HOSTS for port in (9100, 7071, 7072)]
# redis_exporter has no basic authentication: it takes clients with a certificate of the CA.
REDIS_EXPORTER = ("kafka2", 9121)


def metrics_status(host: str, port: int, auth: str | None = None,
                   cert: tuple[Path, Path] | None = None) -> int | str:
    """https_status() of a metrics endpoint (Prometheus's and Alertmanager's health page)."""
    path = "/-/healthy" if port in (9090, 9094) else "/metrics"
    return https_status(f"https://{HOSTS[host]}:{port}{path}", auth, cert)


@pytest.mark.parametrize("host, port", BASIC_AUTH_ENDPOINTS + [REDIS_EXPORTER], ids=lambda v: str(v))
def test_plaintext_http_to_monitoring_is_refused(host: str, port: int) -> None:
    answer = plaintext_answer(port, host=HOSTS[host], request=f"GET /metrics HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    # Go's TLS servers answer a plaintext request with "400 ... HTTP request to an HTTPS server"; the
    # others send a TLS alert or close. None serves a page.
    assert not answer.startswith((b"HTTP/1.0 200", b"HTTP/1.1 200", b"HTTP/1.0 401", b"HTTP/1.1 401")), \
        f"{host}:{port} answered plaintext HTTP: {answer!r}"


@pytest.mark.parametrize("host, port", BASIC_AUTH_ENDPOINTS, ids=lambda v: str(v))
def test_monitoring_endpoints_need_the_password(host: str, port: int) -> None:
    from rastro_producer.kafka_config import read_properties
    creds = read_properties(CREDENTIALS / "monitoring.properties")
    user, password = creds["user"], creds["password"]
    if port in (7071, 7072):
        # The JMX agents take one user: Prometheus's (the lab's generated password).
        user, password = "prometheus", (CREDENTIALS / "secrets" / "monitoring-prometheus").read_text().split()[0]
    assert metrics_status(host, port) == 401
    assert metrics_status(host, port, f"{user}:not-the-password") == 401
    assert metrics_status(host, port, f"{user}:{password}") == 200


def test_redis_exporter_takes_only_clients_with_a_certificate_of_the_ca(tmp_path: Path) -> None:
    host, port = REDIS_EXPORTER
    assert str(metrics_status(host, port)).startswith("refused"), "no client certificate accepted"
    assert str(metrics_status(host, port, cert=stranger_certificate(tmp_path))).startswith("refused"), \
        "a certificate of another CA accepted"
    # Prometheus presents its host's certificate; the controller holds those it issued.
    pki = CREDENTIALS / "pki"
    assert metrics_status(host, port, cert=(pki / "kafka3.crt", pki / "kafka3.key")) == 200


# --- authentication ----------------------------------------------------------------------------

def login_errors(conf: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    p = Producer({**conf, "error_cb": lambda e: errors.append(f"{e.name()}: {e.str()}")})
    try:
        p.list_topics(timeout=8)
    except KafkaException:
        pass
    p.poll(1)
    return errors


def test_wrong_scram_password_is_refused() -> None:
    errors = login_errors(kafka_conf("producer", **{"sasl.password": "not-the-password"}))
    assert any("_AUTHENTICATION" in e for e in errors), errors


def test_right_scram_password_logs_in() -> None:
    assert not login_errors(kafka_conf("producer")), "the producer's own credentials were refused"


# --- authorization: each principal within its ACLs --------------------------------------------

def produce_error(principal: str, topic: str) -> str | None:
    result: list[Any] = []
    p = Producer({**kafka_conf(principal), "acks": "all", "message.timeout.ms": 10000})
    p.produce(topic, key=b"security-test", value=None, on_delivery=lambda err, msg: result.append(err))
    p.flush(15)
    assert result, f"no delivery report for {principal} → {topic}"
    return result[0].name() if result[0] else None


def read_error(principal: str, topic: str, group: str) -> str | None:
    c = Consumer({**kafka_conf(principal), "group.id": group, "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        for _ in range(10):
            m = c.poll(1.0)
            if m is not None and m.error():
                return m.error().name()
            if m is not None:
                return None
        return None
    finally:
        c.close()


@pytest.fixture(scope="module")
def scratch_topic() -> Iterator[str]:
    name = f"security-{uuid.uuid4().hex[:6]}"
    admin = AdminClient(kafka_conf())
    admin.create_topics([NewTopic(name, 1, 3)])[name].result(30)
    yield name
    admin.delete_topics([name])[name].result(30)


def test_producer_writes_driver_locations_and_nothing_else(scratch_topic: str) -> None:
    assert produce_error("producer", "driver-locations") is None
    assert produce_error("producer", scratch_topic) == "TOPIC_AUTHORIZATION_FAILED"
    assert read_error("producer", "driver-locations", "security-producer") in (
        "TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED")


def test_producer_cannot_create_topics() -> None:
    name = f"security-create-{uuid.uuid4().hex[:6]}"
    admin = AdminClient(kafka_conf("producer"))
    fut = admin.create_topics([NewTopic(name, 1, 3)])[name]
    with pytest.raises(KafkaException) as exc:
        fut.result(30)
    assert exc.value.args[0].code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED)


def test_exporter_cannot_write() -> None:
    assert produce_error("exporter", "driver-locations") == "TOPIC_AUTHORIZATION_FAILED"


def test_connect_principal_cannot_write_driver_locations_but_reads_it() -> None:
    assert produce_error("connect", "driver-locations") == "TOPIC_AUTHORIZATION_FAILED"
    assert read_error("connect", "driver-locations", f"connect-security-{uuid.uuid4().hex[:6]}") is None


def test_chaos_verifier_cannot_touch_other_topics(scratch_topic: str) -> None:
    assert produce_error("chaos-verifier", scratch_topic) == "TOPIC_AUTHORIZATION_FAILED"


def test_acls_are_declared_as_code() -> None:
    out = ssh("kafka1", f"kafka-acls --command-config /etc/kafka/tools.properties --bootstrap-server {KAFKA1}:9095 "
                        "--list --principal User:producer").stdout
    assert "operation=WRITE" in out and "name=driver-locations" in out, out
    assert "operation=READ" not in out, out


# --- no secret shown -----------------------------------------------------------------------------

def test_no_secret_in_any_process_command_line() -> None:
    for host in HOSTS:
        ps = ssh(host, "ps -eo args --no-headers").stdout
        assert not leaked(ps), f"{host}: secrets on a command line: {leaked(ps)}"


def test_first_site_run_with_diff_shows_no_secret() -> None:
    # make integration runs the first site.yml on fresh hosts with --diff, so that every file holding a
    # secret is created under diff mode: a template without `diff: false` would print its content here.
    log = REPO / "artifacts" / "site-first.log"
    assert log.exists(), "run the first site.yml with --diff into artifacts/site-first.log (make integration)"
    text = log.read_text()
    assert "--- before" in text and "+++ after" in text, "artifacts/site-first.log was not run with --diff"
    assert "/etc/rastro/producer-client.properties" in text or "producer-client.properties" in text
    assert not leaked(text), f"site.yml --diff printed {leaked(text)}"


def test_no_secret_under_artifacts() -> None:
    found = {}
    for f in (REPO / "artifacts").rglob("*"):
        if f.is_file() and f.stat().st_size < 50_000_000:
            hits = leaked(f.read_bytes().decode("utf-8", "replace"))
            if hits:
                found[str(f.relative_to(REPO))] = hits
    assert not found, f"secrets in artifacts: {found}"
