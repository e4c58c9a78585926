"""rastro_producer.monitoring.load(): the monitoring credentials file the deploy leaves on the controller."""

from __future__ import annotations

from pathlib import Path

import pytest

from rastro_producer import monitoring
from rastro_producer.kafka_config import ClientConfigError

GOOD = """# written by site.yml
prometheus_url=https://192.0.2.13:9090/
alertmanager_url=https://192.0.2.13:9094
user=admin
password=s3cret
tls=true
cafile=ca.pem
"""


def write(tmp_path: Path, text: str, ca: bool = True) -> Path:
    if ca:
        (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    p = tmp_path / "monitoring.properties"
    p.write_text(text)
    return p


def test_loads_urls_user_and_the_ca_next_to_the_file(tmp_path: Path) -> None:
    m = monitoring.load(write(tmp_path, GOOD))
    assert m.prometheus_url == "https://192.0.2.13:9090" and m.alertmanager_url == "https://192.0.2.13:9094"
    assert (m.user, m.password, m.cafile) == ("admin", "s3cret", str(tmp_path / "ca.pem"))
    assert "s3cret" not in repr(m)
    assert m.request("https://x/metrics").get_header("Authorization") == "Basic YWRtaW46czNjcmV0"


def test_plaintext_monitoring_needs_no_ca(tmp_path: Path) -> None:
    text = GOOD.replace("https", "http").replace("tls=true", "tls=false")
    assert monitoring.load(write(tmp_path, text, ca=False)).cafile is None


@pytest.mark.parametrize("text, message", [
    (GOOD.replace("user=admin\n", ""), "missing user"),
    (GOOD.replace("tls=true", "tls=yes"), "tls must be true or false (got 'yes')"),
    (GOOD.replace("prometheus_url=https", "prometheus_url=http"), "prometheus_url 'http://192.0.2.13:9090/' must be https://"),
])
def test_a_bad_file_names_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ClientConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        monitoring.load(write(tmp_path, text))


def test_a_missing_ca_is_named(tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match="cafile .*ca.pem is not a file"):
        monitoring.load(write(tmp_path, GOOD, ca=False))
