"""Client config files: one file for Kafka's tools and confluent-kafka, the Java-only keys dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rastro_producer import kafka_config
from rastro_producer.kafka_config import ClientConfigError, load, read_properties

REPO = Path(__file__).resolve().parents[2]

BOTH = """# written by site.yml
bootstrap.servers=h1:9092,h2:9092
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=producer
sasl.password=p=w
ssl.ca.location=ca.pem
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="producer" password="pw";
ssl.truststore.type=PEM
ssl.truststore.location=/x/ca.pem
"""


def test_librdkafka_keys_are_kept_and_java_keys_dropped(tmp_path: Path) -> None:
    (tmp_path / "producer.properties").write_text(BOTH)
    conf = load(tmp_path / "producer.properties")
    assert conf == {"bootstrap.servers": "h1:9092,h2:9092", "security.protocol": "SASL_SSL",
                    "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "producer", "sasl.password": "p=w",
                    "ssl.ca.location": str(tmp_path / "ca.pem")}


def test_the_result_is_accepted_by_librdkafka(tmp_path: Path) -> None:
    from confluent_kafka import Producer
    (tmp_path / "producer.properties").write_text(BOTH)
    (tmp_path / "ca.pem").write_bytes(Path("/etc/ssl/certs/ca-certificates.crt").read_bytes())
    Producer(load(tmp_path / "producer.properties"))  # raises on any unknown property


@pytest.mark.parametrize("text,message", [
    ("bootstrap.servers=h:9092\njust-a-word\n", ":2: expected key=value (got 'just-a-word')"),
    ("security.protocol=SSL\n", "no bootstrap.servers"),
])
def test_bad_files_are_refused_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "c.properties").write_text(text)
    with pytest.raises(ClientConfigError) as exc:
        load(tmp_path / "c.properties")
    assert message in str(exc.value)


def test_missing_file_is_named() -> None:
    with pytest.raises(ClientConfigError) as exc:
        read_properties("/nonexistent/admin.properties")
    assert "cannot read Kafka client config /nonexistent/admin.properties" in str(exc.value)


def test_producer_cli_refuses_a_missing_client_config() -> None:
    run = subprocess.run(["/usr/bin/python3", "-m", "rastro_producer", "send", "--client-config", "/nonexistent/p.properties",
                          "--driver-id", "d1", "--latitude", "1", "--longitude", "2"],
                         cwd=REPO / "producer", capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "cannot read Kafka client config /nonexistent/p.properties" in run.stderr


def test_redis_credentials_with_tls_name_the_ca_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    f = tmp_path / "redis-admin.properties"
    f.write_text("host=10.0.0.2\nport=6379\nuser=admin\npassword=p=w\ntls=true\ncafile=ca.pem\n")
    assert kafka_config.redis_connection(f) == {"host": "10.0.0.2", "port": 6379, "username": "admin",
                                                "password": "p=w", "ssl": True, "ssl_ca_certs": str(tmp_path / "ca.pem")}
    f.write_text("host=10.0.0.2\nport=6379\nuser=admin\npassword=p\ntls=false\n")
    assert "ssl" not in kafka_config.redis_connection(f)


@pytest.mark.parametrize("text,message", [
    ("host=h\nport=6379\nuser=u\npassword=p\ntls=true\ncafile=nope.pem\n", "cafile .*nope.pem is not a file"),
    ("host=h\nport=6379\nuser=u\npassword=p\ntls=yes\n", "tls must be true or false \\(got 'yes'\\)"),
    ("host=h\nport=63a9\nuser=u\npassword=p\n", "port must be a number \\(got '63a9'\\)"),
    ("host=h\nport=6379\n", "missing user, password"),
])
def test_bad_redis_credentials_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "redis-admin.properties"
    f.write_text(text)
    with pytest.raises(kafka_config.ClientConfigError, match=message):
        kafka_config.redis_connection(f)


def test_redis_credentials_name_the_sentinels_and_every_server(tmp_path: Path) -> None:
    f = tmp_path / "redis-admin.properties"
    f.write_text("sentinels=10.0.0.1:26379, 10.0.0.2:26379\nsentinel_master=rastro\nhosts=10.0.0.1,10.0.0.2\n"
                 "port=6379\nuser=admin\npassword=p\ntls=false\n")
    assert kafka_config.redis_sentinels(f) == ([("10.0.0.1", 26379), ("10.0.0.2", 26379)], "rastro")
    assert [r["host"] for r in kafka_config.redis_replicas(f)] == ["10.0.0.1", "10.0.0.2"]


@pytest.mark.parametrize("sentinels,message", [
    ("10.0.0.1", "sentinels must be host:port,... \\(got '10.0.0.1'\\)"),
    ("10.0.0.1:abc", "sentinels must be a number \\(got 'abc'\\)"),
    ("10.0.0.1:70000", "sentinels must be 1..65535 \\(got 70000\\)"),
])
def test_bad_sentinels_are_refused_by_name(tmp_path: Path, sentinels: str, message: str) -> None:
    f = tmp_path / "redis-admin.properties"
    f.write_text(f"sentinels={sentinels}\nport=6379\nuser=u\npassword=p\n")
    with pytest.raises(kafka_config.ClientConfigError, match=message):
        kafka_config.redis_sentinels(f)


def test_a_file_without_sentinels_or_host_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "redis-admin.properties"
    f.write_text("port=6379\nuser=u\npassword=p\n")
    with pytest.raises(kafka_config.ClientConfigError, match="missing sentinels \\(or host\\)"):
        kafka_config.redis_connection(f)
