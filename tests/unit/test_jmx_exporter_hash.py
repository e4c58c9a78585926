"""The JMX agent's password hash as roles/jmx_exporter writes it equals what the agent (1.0.1)
computes: hex of SHA-256(salt:password) through BigInteger.toString(16), without leading zeros."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

REPO = Path(__file__).resolve().parents[2]


def agent_hash(salt: str, password: str) -> str:
    """MessageDigestAuthenticator.generatePasswordHash: new BigInteger(1, digest).toString(16)."""
    return format(int(hashlib.sha256(f"{salt}:{password}".encode()).hexdigest(), 16), "x")


def test_the_role_writes_the_hash_the_agent_computes_even_with_a_leading_zero() -> None:
    role_vars = yaml.safe_load((REPO / "roles/jmx_exporter/vars/main.yml").read_text())
    salt = "8f8f904e81233fd4"
    # A password whose salted hash starts with 0 (the case the agent's formatting shortens).
    password = next(p for p in (f"pw{i}" for i in range(1000))
                    if hashlib.sha256(f"{salt}:{p}".encode()).hexdigest().startswith("0"))
    templar = Templar(loader=DataLoader(), variables={"_jmx_exporter_salt": salt,
                                                      "jmx_exporter_basic_auth_password": password})
    written = templar.template(role_vars["_jmx_exporter_password_hash"])
    assert written == agent_hash(salt, password)
    assert len(written) < 64
