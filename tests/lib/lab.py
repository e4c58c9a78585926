"""Helpers the integration tests and scripts share: where the lab is and how to reach it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

REPO = Path(__file__).resolve().parents[2]
for _package in ("producer", "api"):
    if str(REPO / _package) not in sys.path:
        sys.path.insert(0, str(REPO / _package))
# The inventory the tests run against: `local` (kafka1..3) unless RASTRO_INVENTORY names another
# (make test-day2: lab-cloud, whose hosts have names only, resolved through /etc/hosts).
INVENTORY = os.environ.get("RASTRO_INVENTORY", "local")
INVENTORY_DIR = REPO / "inventories" / INVENTORY
HOSTS = {"kafka1": "192.168.56.11", "kafka2": "192.168.56.12", "kafka3": "192.168.56.13"}
BOOTSTRAP = ",".join(f"{ip}:9092" for ip in HOSTS.values())
# What site.yml leaves on the controller for the lab inventory (docs/contracts.md, "Credentials").
CREDENTIALS = Path(os.environ.get("RASTRO_CREDENTIALS", REPO / "credentials" / INVENTORY))
# An inventory with an ansible-vault encrypted vault.yml (lab/vault.sh) keeps its password here.
VAULT_PASS = REPO / "credentials" / INVENTORY / "vault-pass"
# Kafka's tools on a lab host: the node's own certificate on the internal listener.
TOOLS = "--command-config /etc/kafka/tools.properties"
INTERNAL = ",".join(f"{ip}:9095" for ip in HOSTS.values())


def client_config_file(principal: str = "admin") -> Path:
    return CREDENTIALS / ("admin.properties" if principal == "admin" else f"kafka/{principal}.properties")


def kafka_conf(principal: str = "admin", **overrides: Any) -> dict[str, Any]:
    """librdkafka settings of a principal from its credentials file, plus overrides (dots as in Kafka)."""
    from rastro_producer.kafka_config import load
    return {**load(client_config_file(principal)), **overrides}


# rastro-fraud's health endpoint (docs/contracts.md, ports).
FRAUD_HEALTH_PORT = 9312


def fraud_health(host: str, timeout: float = 10) -> dict[str, Any]:
    """The decision service's /healthz on a host (HTTPS with the platform's CA), as JSON."""
    import json
    import ssl
    import urllib.request
    ctx = ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem"))
    with urllib.request.urlopen(f"https://{host}:{FRAUD_HEALTH_PORT}/healthz", timeout=timeout, context=ctx) as r:
        return json.loads(r.read())


def redis_admin() -> dict[str, Any]:
    """redis-py keyword arguments for the Redis admin user, from credentials/<inventory>/redis-admin.properties."""
    from rastro_producer.kafka_config import redis_connection
    return redis_connection(CREDENTIALS / "redis-admin.properties")


def primary_now() -> str:
    """The lab host the Sentinels name as the Redis primary."""
    from rastro_producer.kafka_config import redis_primary
    host, _ = redis_primary(CREDENTIALS / "redis-admin.properties")
    return next((h for h, ip in HOSTS.items() if ip == host), host)


def database_primary_now() -> str:
    """The lab host whose PostgreSQL takes writes: what the analysts' clients find (every host, read-write)."""
    import psycopg2
    from rastro_fraud.store import database_config
    with psycopg2.connect(**database_config(CREDENTIALS / "fraud-analyst-db.properties")) as conn, conn.cursor() as cur:
        cur.execute("SELECT host(inet_server_addr())")
        addr = cur.fetchone()[0]
    return next((h for h, ip in HOSTS.items() if ip == addr), addr)


SSH_KEY = os.environ.get("RASTRO_SSH_KEY", "/var/lib/rastro-lab/ssh/id_ed25519")
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]


def ssh(host: str, command: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run a command on a lab host as root."""
    proc = subprocess.run(["ssh", *SSH_OPTS, "-i", SSH_KEY, f"root@{HOSTS.get(host, host)}", command],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"ssh {host} {command!r} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def ansible_env() -> dict[str, str]:
    """The environment for ansible-* commands on the tests' inventory (and its vault password file)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_INVENTORY=str(INVENTORY_DIR))
    if VAULT_PASS.exists():
        env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(VAULT_PASS)
    return env


def inventory_groups() -> dict[str, list[str]]:
    """Group name -> hosts of the tests' inventory (ansible-inventory --list)."""
    import json
    out = subprocess.run(["ansible-inventory", "--list"], cwd=REPO, capture_output=True, text=True,
                         timeout=120, env=ansible_env(), check=True).stdout
    inv = json.loads(out)
    groups: dict[str, list[str]] = {}

    def hosts_of(group: str) -> list[str]:
        g = inv.get(group, {})
        found = list(g.get("hosts", []))
        for child in g.get("children", []):
            found += [h for h in hosts_of(child) if h not in found]
        return found

    for name, value in inv.items():
        if name != "_meta" and isinstance(value, dict):
            groups[name] = hosts_of(name)
    return groups


def ansible_playbook(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = ansible_env()
    return subprocess.run(["ansible-playbook", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def newest_chaos_run(fault: str, since: float) -> Optional[Path]:
    """The report directory chaos.yml wrote for `fault` at or after `since` (5 s of slack), if any."""
    runs = sorted((REPO / "artifacts" / "chaos").glob(f"*-{fault}"), key=lambda p: p.stat().st_mtime)
    return runs[-1] if runs and runs[-1].stat().st_mtime >= since - 5 else None


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """Per-host counters from every PLAY RECAP in an ansible-playbook run, summed."""
    totals: dict[str, dict[str, int]] = {}
    for host, ok, changed, unreachable, failed in RECAP.findall(output):
        t = totals.setdefault(host, {"ok": 0, "changed": 0, "unreachable": 0, "failed": 0})
        t["ok"] += int(ok)
        t["changed"] += int(changed)
        t["unreachable"] += int(unreachable)
        t["failed"] += int(failed)
    return totals


def assert_site_changes_nothing(after: str) -> None:
    """A plain site.yml reports changed=0 on every host and leaves the Redis primary where the
    Sentinels put it (a failover, or the rotation's hand-over, may have moved it)."""
    primary = primary_now()
    again = ansible_playbook("site.yml", timeout=1800)
    assert again.returncode == 0, again.stdout[-4000:]
    changed = {h: c["changed"] for h, c in recap(again.stdout).items() if c["changed"]}
    assert not changed, f"site.yml after {after} changed something: {changed}\n{again.stdout[-4000:]}"
    assert primary_now() == primary, f"site.yml moved the Redis primary from {primary} to {primary_now()}"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 2.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
