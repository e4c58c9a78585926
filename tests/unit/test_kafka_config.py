"""Client config files: one file for Kafka's tools and confluent-kafka, the Java-only keys dropped."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
