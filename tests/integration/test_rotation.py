"""playbooks/rotate-certs.yml under load (make test-rotation). The renewal (chaos.yml -e fault=cert-renew): every host gets a new certificate from the same CA, every TLS endpoint serves
it afterwards. The CA replacement (chaos.yml -e fault=ca-replace: the phases trust, leaves, drop;
make test-rotation): every endpoint then serves a certificate of the new CA, which alone is trusted.
With acks=all load running throughout, no acknowledged update is lost, the producer sees no error and
Redis ends equal to the latest acknowledged state; afterwards a plain site.yml changes nothing (the
TLS-only playbook left nothing that site.yml would put otherwise)."""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path

from cryptography import x509

from tests.lib.lab import (CREDENTIALS, HOSTS, REPO, ansible_playbook, assert_site_changes_nothing, newest_chaos_run,
                            wait_until)
from tests.lib.prom import urp_now

SUMMARY = REPO / "artifacts" / "chaos" / "summary.json"
# Every TLS endpoint that presents a host certificate (docs/contracts.md): Kafka's client listener
# on each broker, Connect's REST API on each worker, Redis.
ENDPOINTS = ([(h, 9092) for h in ("kafka1", "kafka2", "kafka3")] + [(h, 8083) for h in ("kafka1", "kafka2", "kafka3")]
             + [(h, 6379) for h in ("kafka1", "kafka2", "kafka3")] + [(h, 26379) for h in ("kafka1", "kafka2", "kafka3")])


def served_certificate(host: str, port: int, cafile: Path = CREDENTIALS / "ca.pem") -> x509.Certificate:
    """The certificate an endpoint presents, checked against the deployment's CA and the host's address."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection((HOSTS[host], port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=HOSTS[host]) as s:
            der = s.getpeercert(binary_form=True)
    assert der, f"{host}:{port} presented no certificate"
    return x509.load_der_x509_certificate(der)


def rotate_under_load(fault: str, rate: int, seconds_key: str, timeout: int) -> dict:
    """chaos.yml's fault (cert-renew or ca-replace) at `rate` updates/s: its report, also summed up in
    artifacts/chaos/summary.json; fails unless it succeeded and lost nothing."""
    wait_until(lambda: urp_now() == 0, 180, interval=3, what=f"a healthy cluster before {fault}")
    started = time.time()
    proc = ansible_playbook("chaos.yml", "-e", f"fault={fault}", "-e", "duration=1", "-e", f"chaos_rate={rate}",
                            timeout=timeout)
    run = newest_chaos_run(fault, started)
    assert run is not None, proc.stdout[-3000:]
    report = json.loads((run / "report.json").read_text())
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    summary[fault] = {k: report.get(k) for k in ("acknowledged", "lost", "duplicates", "failed",
                                                 "unavailability_window_s", "p99_latency_during_fault_ms",
                                                 "redis_converged_after_production_s")}
    summary[fault].update({"run": run.name, seconds_key: round(report["restored"] - report["injected"], 1)})
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert (run / "rotate-certs.rc").read_text().strip() == "0", (run / "rotate-certs.log").read_text()[-4000:]

    # The load ran through the whole rotation, and nothing it had acknowledged is missing.
    assert report["acknowledged"] >= 0.9 * rate * (report["restored"] - report["injected"]), report
    assert report["lost"] == 0 and report["failed"] == 0, report
    assert report["redis_converged"] and report["redis_mismatched_drivers"] == 0, report
    return report


def test_certificate_renewal_under_load_loses_nothing() -> None:
    before = {e: served_certificate(*e).serial_number for e in ENDPOINTS}
    rotate_under_load("cert-renew", 5000, "renewal_s", timeout=2700)

    # Each endpoint now serves a new certificate, valid for its host and signed by the same CA.
    after = {e: served_certificate(*e).serial_number for e in ENDPOINTS}
    unchanged = [f"{h}:{p}" for (h, p) in ENDPOINTS if after[(h, p)] == before[(h, p)]]
    assert not unchanged, f"still the old certificate on {', '.join(unchanged)}"
    assert_site_changes_nothing("the renewal")


PKI = CREDENTIALS / "pki"
CA_REPLACE_RATE = 2000  # updates/s: the three phases take three renewals' time, the verifier holds every ack


def subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def test_ca_replacement_under_load_loses_nothing() -> None:
    old_ca = subject(x509.load_pem_x509_certificate((PKI / "ca.pem").read_bytes()))
    assert not (PKI / "ca-next.pem").exists(), "a CA replacement is already under way"
    retired_before = set(PKI.glob("ca-retired-*.pem"))
    report = rotate_under_load("ca-replace", CA_REPLACE_RATE, "replacement_s", timeout=5400)
    # The verifier's metadata client, too, kept reaching the brokers through all three phases.
    assert report["urp_zero_after_restore_s"] is not None, report

    # The new CA is the CA, the old one retired; what the controller hands out trusts the new one alone.
    new_ca = subject(x509.load_pem_x509_certificate((PKI / "ca.pem").read_bytes()))
    assert new_ca != old_ca and not (PKI / "ca-next.pem").exists()
    assert len(set(PKI.glob("ca-retired-*.pem")) - retired_before) == 1
    bundle = (CREDENTIALS / "ca.pem").read_text()
    assert bundle.count("BEGIN CERTIFICATE") == 1, "credentials/<inventory>/ca.pem still holds more than the new CA"
    # Every endpoint serves a certificate of the new CA, and verifies against it alone.
    issuers = {f"{h}:{p}": served_certificate(h, p, PKI / "ca.pem").issuer.rfc4514_string() for (h, p) in ENDPOINTS}
    assert set(issuers.values()) == {new_ca}, issuers

    assert_site_changes_nothing("the replacement")
