"""roles/pki refuses provided certificates that cannot work, naming the file and the problem, and
warns about one that expires soon (certificates made here with `cryptography`)."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_ca(tmp: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    (tmp / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def make_host(tmp: Path, ca: tuple, sans: list[x509.GeneralName], days: int = 365, stem: str = "h1") -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("h1")).issuer_name(ca[1].subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(ca[0], hashes.SHA256()))
    (tmp / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{stem}.key").write_bytes(_pem_key(key))


GOOD_SANS = [x509.DNSName("h1"), x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]


def check(tmp: Path, **overrides: str) -> subprocess.CompletedProcess:
    host = {"ansible_connection": "local", "ansible_host": "127.0.0.1", "ansible_python_interpreter": "/usr/bin/python3"}
    pki = {"pki_source": "provided", "pki_provided_ca_file": str(tmp / "ca.pem"),
           "pki_provided_cert_file": str(tmp / "h1.crt"), "pki_provided_key_file": str(tmp / "h1.key"),
           "pki_keystore_password": "unit-test-keystore", "pki_controller_dir": str(tmp / "out"), **overrides}
    (tmp / "out").mkdir(exist_ok=True)
    (tmp / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"h1": host}, "vars": pki}}))
    return subprocess.run(["ansible-playbook", "-i", str(tmp / "hosts.yml"), "tests/unit/pki_check.yml"], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=180)


@pytest.fixture()
def ca(tmp_path: Path) -> tuple:
    return make_ca(tmp_path, "ca")


def test_matching_provided_certificate_passes_and_gets_a_keystore(tmp_path: Path, ca: tuple) -> None:
    make_host(tmp_path, ca, GOOD_SANS)
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "out" / "h1.p12").exists()
    assert "WARNING" not in run.stdout


def test_missing_file_is_named(tmp_path: Path, ca: tuple) -> None:
    make_host(tmp_path, ca, GOOD_SANS)
    (tmp_path / "h1.key").unlink()
    run = check(tmp_path)
    assert run.returncode != 0
    assert f"h1: missing {tmp_path}/h1.key (pki_source=provided)" in run.stdout.replace("\n", " "), run.stdout[-3000:]


def test_key_of_another_certificate_is_refused(tmp_path: Path, ca: tuple) -> None:
    make_host(tmp_path, ca, GOOD_SANS)
    make_host(tmp_path, ca, GOOD_SANS, stem="other")
    run = check(tmp_path, pki_provided_key_file=str(tmp_path / "other.key"))
    assert run.returncode != 0
    assert f"does not match the key {tmp_path}/other.key" in run.stdout.replace("\n", " "), run.stdout[-3000:]


def test_certificate_that_does_not_cover_the_host_is_refused(tmp_path: Path, ca: tuple) -> None:
    make_host(tmp_path, ca, [x509.DNSName("elsewhere")])
    run = check(tmp_path)
    assert run.returncode != 0
    assert "does not cover DNS:h1, IP:127.0.0.1 (its SAN: DNS:elsewhere)" in run.stdout.replace("\n", " "), run.stdout[-3000:]


def test_certificate_from_another_ca_is_refused(tmp_path: Path, ca: tuple) -> None:
    make_host(tmp_path, make_ca(tmp_path, "stranger"), GOOD_SANS)
    run = check(tmp_path)
    assert run.returncode != 0
    assert f"is not issued by the CA in {tmp_path}/ca.pem" in run.stdout.replace("\n", " "), run.stdout[-3000:]


def test_certificate_expiring_within_30_days_is_warned_about(tmp_path: Path, ca: tuple) -> None:
    make_host(tmp_path, ca, GOOD_SANS, days=10)
    run = check(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "WARNING: the certificate of h1" in run.stdout and "within 30 days" in run.stdout.replace("\n", " ")
