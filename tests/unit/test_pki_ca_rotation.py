"""roles/pki replaces its CA in three phases (pki_ca_rotation: trust → leaves → drop) with an overlap
of trust at every step, each phase idempotent, out-of-order phases refused by name; and it refuses a
CA bundle that shares nothing with what a host trusts. The whole role runs against local "hosts"
whose TLS directory is a temporary one (tests/unit/pki_role.yml); certificates are checked with openssl."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
# Two hosts: each one's certificate must verify against the other's trust at every step (mutual TLS).
HOSTS = ("h1", "h2")
NOTHING = {h: 0 for h in HOSTS}
RECAP = re.compile(r"^(h\d)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)", re.M)


class Lab:
    def __init__(self, tmp: Path) -> None:
        self.ctl, self.tmp = tmp / "ctl", tmp
        hosts = {}
        for h in HOSTS:
            (tmp / h).mkdir()
            hosts[h] = {"ansible_connection": "local", "ansible_host": "127.0.0.1",
                        "ansible_python_interpreter": "/usr/bin/python3", "pki_host_dir": str(tmp / h)}
        (tmp / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": {
            "pki_source": "generated", "pki_controller_dir": str(self.ctl),
            "pki_keystore_password": "unit-test-keystore", "pki_group": "root"}}}))

    def run(self, phase: str = "") -> tuple[dict[str, int], str]:
        """changed count per host, and the output; fails the test on a failed run."""
        proc = self.attempt(phase)
        recap = {h: int(c) for h, c, f in RECAP.findall(proc.stdout)}
        assert proc.returncode == 0 and len(recap) == len(HOSTS), proc.stdout[-4000:]
        return recap, proc.stdout

    def attempt(self, phase: str = "") -> subprocess.CompletedProcess:
        extra = ["-e", f"pki_ca_rotation={phase}"] if phase else []
        return subprocess.run(["ansible-playbook", "-i", str(self.tmp / "hosts.yml"), "tests/unit/pki_role.yml", *extra],
                              cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)

    def trusted(self, host: str) -> list[str]:
        """Subjects of the CAs a host trusts (its ca.pem)."""
        pems = re.findall(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----", (self.tmp / host / "ca.pem").read_text())
        return [subject(pem) for pem in pems]

    def issuer(self, host: str) -> str:
        return openssl("x509", "-noout", "-issuer", "-nameopt", "RFC2253", "-in", str(self.tmp / host / "host.crt"))[len("issuer="):]

    def verifies(self, host: str) -> bool:
        """The host's certificate verifies against every host's trust (mutual TLS keeps working)."""
        return all(subprocess.run(["openssl", "verify", "-CAfile", str(self.tmp / other / "ca.pem"), str(self.tmp / host / "host.crt")],
                                  capture_output=True).returncode == 0 for other in HOSTS)


def openssl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, text=True, check=True).stdout.strip()


def subject(pem: str) -> str:
    return openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", stdin=pem)[len("subject="):]


def test_ca_replacement_keeps_an_overlap_and_each_phase_is_idempotent(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    lab.run()
    assert lab.trusted("h1") == ["CN=rastro CA"] and lab.issuer("h1") == "CN=rastro CA"

    # Out of order: leaves before trust.
    early = lab.attempt("leaves")
    assert early.returncode != 0 and "run trust first" in early.stdout, early.stdout[-3000:]

    changed, _ = lab.run("trust")
    new_ca = subject((lab.ctl / "ca-next.pem").read_text())
    assert new_ca.startswith("CN=rastro CA 20") and all(n > 0 for n in changed.values()), changed
    for h in HOSTS:
        assert lab.trusted(h) == ["CN=rastro CA", new_ca] and lab.issuer(h) == "CN=rastro CA" and lab.verifies(h)
    assert lab.run("trust")[0] == NOTHING, "trust again changed something"

    # Out of order: drop before leaves.
    early = lab.attempt("drop")
    assert early.returncode != 0 and "run leaves first" in early.stdout, early.stdout[-3000:]

    lab.run("leaves")
    for h in HOSTS:
        assert lab.trusted(h) == ["CN=rastro CA", new_ca] and lab.issuer(h) == new_ca and lab.verifies(h)
    assert lab.run("leaves")[0] == NOTHING, "leaves again changed something"

    lab.run("drop")
    for h in HOSTS:
        assert lab.trusted(h) == [new_ca] and lab.issuer(h) == new_ca and lab.verifies(h)
    assert subject((lab.ctl / "ca.pem").read_text()) == new_ca and not (lab.ctl / "ca-next.pem").exists()
    assert len(list(lab.ctl.glob("ca-retired-*.pem"))) == 1
    # Done: drop again, and a run without a phase, change nothing.
    assert lab.run("drop")[0] == NOTHING, "drop again changed something"
    assert lab.run()[0] == NOTHING, "a plain run after the replacement changed something"


def test_a_ca_bundle_sharing_nothing_with_the_hosts_trust_is_refused(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    lab.run()
    # The controller loses its PKI directory: the next run would make a new CA no host trusts.
    for f in lab.ctl.glob("ca*"):
        f.unlink()
    proc = lab.attempt()
    assert proc.returncode != 0
    assert "none in common" in proc.stdout and "pki_ca_rotation" in proc.stdout, proc.stdout[-3000:]


def test_an_unknown_phase_is_named(tmp_path: Path) -> None:
    proc = Lab(tmp_path).attempt("trsut")
    assert proc.returncode != 0
    # The argument spec names the variable, the value and the choices.
    assert re.search(r"pki_ca_rotation must be one of: .*trust, leaves, drop, got: trsut", proc.stdout), proc.stdout[-3000:]
