"""The shipped inventories follow docs/contracts.md, and the kafka role's preflight rejects
bad layouts with a message naming the problem."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
CONTRACT_GROUPS = ["kafka_controller", "kafka_broker", "connect", "redis", "monitoring", "producer", "api"]


def inventory(path: str) -> dict:
    out = subprocess.run(["ansible-inventory", "-i", path, "--list"], cwd=REPO, env=ENV,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_local_inventory_has_contract_groups_and_addresses() -> None:
    inv = inventory("inventories/local")
    for group in CONTRACT_GROUPS:
        assert inv[group]["hosts"], f"group {group} is empty"
    assert inv["kafka_controller"]["hosts"] == ["kafka1", "kafka2", "kafka3"]
    assert inv["kafka_broker"]["hosts"] == ["kafka1", "kafka2", "kafka3"]
    assert inv["connect"]["hosts"] == ["kafka1", "kafka2", "kafka3"]
    # One Redis server and one Sentinel per host, the first the primary of a fresh deploy.
    assert sorted(inv["redis"]["hosts"]) == ["kafka1", "kafka2", "kafka3"]
    for g in ("monitoring", "producer"):
        assert len(inv[g]["hosts"]) == 1
    # The dispatch API on every host: clients that know all three lose nothing when one dies.
    assert sorted(inv["api"]["hosts"]) == ["kafka1", "kafka2", "kafka3"]
    hv = inv["_meta"]["hostvars"]
    assert {h: hv[h]["ansible_host"] for h in ("kafka1", "kafka2", "kafka3")} == {
        "kafka1": "192.168.56.11", "kafka2": "192.168.56.12", "kafka3": "192.168.56.13"}
    assert sorted(hv[h]["kafka_node_id"] for h in ("kafka1", "kafka2", "kafka3")) == [1, 2, 3]


def test_example_inventory_separates_controllers_from_brokers() -> None:
    inv = inventory("inventories/example")
    controllers = set(inv["kafka_controller"]["hosts"])
    brokers = set(inv["kafka_broker"]["hosts"])
    assert len(controllers) % 2 == 1 and not controllers & brokers
    ids = [inv["_meta"]["hostvars"][h]["kafka_node_id"] for h in controllers | brokers]
    assert len(ids) == len(set(ids))


def write_inventory(tmp_path: Path, controllers: dict[str, int], brokers: dict[str, int], **group_vars) -> Path:
    hosts = {h: {"kafka_node_id": i, "ansible_connection": "local", "ansible_host": "127.0.0.1"}
             for h, i in {**controllers, **brokers}.items()}
    secrets = {"pki_keystore_password": "unit-test-keystore", "rastro_kafka_passwords": {"admin": "unit-test-admin-password"}}
    inv = {"all": {"vars": {"ansible_python_interpreter": "/usr/bin/python3", **secrets, **group_vars},
                   "children": {
                       "kafka_controller": {"hosts": {h: hosts[h] for h in controllers}},
                       "kafka_broker": {"hosts": {h: hosts[h] for h in brokers}}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def preflight(inv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ansible-playbook", "-i", str(inv), "tests/unit/preflight.yml"], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)


def test_good_layout_passes(tmp_path: Path) -> None:
    run = preflight(write_inventory(tmp_path, {"c1": 1, "c2": 2, "c3": 3}, {"b1": 4, "b2": 5, "b3": 6}))
    assert run.returncode == 0, run.stdout[-2000:]


@pytest.mark.parametrize("controllers,brokers,extra,message", [
    ({"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3}, {},
     "group 'kafka_controller' has 2 hosts; a KRaft quorum needs an odd number"),
    ({"a": 1, "b": 1, "c": 3}, {"a": 1, "b": 1, "c": 3}, {},
     "kafka_node_id must be unique across the cluster; duplicated: 1"),
    ({"a": 1}, {"a": 1, "b": 2}, {},
     "group 'kafka_broker' has 2 brokers but kafka_default_replication_factor is 3"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"kafka_min_insync_replicas": 4},
     "kafka_min_insync_replicas is 4"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"kafka_install_method": "tarball"},
     "kafka_install_method must be 'maven' or 'archive' (got 'tarball')"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"kafka_install_method": "archive"},
     "the archive route needs kafka_archive_sha512"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"kafka_broker_heartbeat_interval_ms": 1000},
     "kafka_broker_heartbeat_interval_ms (1000) must be positive and at most half of kafka_broker_session_timeout_ms (1000)"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"kafka_controller_quorum_fetch_timeout_ms": 500},
     "kafka_controller_quorum_fetch_timeout_ms (500) must be above 500"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"rastro_kafka_passwords": {"admin": "short"}},
     "kafka_admin_password too (16+ characters, length 5)"),
    ({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"kafka_internal_port": 9092},
     "kafka_internal_port (9092) differs from the client (9092)"),
])
def test_bad_layouts_fail_with_a_clear_message(tmp_path: Path, controllers, brokers, extra, message) -> None:
    run = preflight(write_inventory(tmp_path, controllers, brokers, **extra))
    assert run.returncode != 0
    assert message in run.stdout.replace("\n", " "), run.stdout[-3000:]


def test_non_integer_node_id_is_named(tmp_path: Path) -> None:
    inv = write_inventory(tmp_path, {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3})
    text = inv.read_text().replace("kafka_node_id: 2", "kafka_node_id: two")
    inv.write_text(text)
    run = preflight(inv)
    assert run.returncode != 0
    assert "b has kafka_node_id=two" in run.stdout.replace("\n", " "), run.stdout[-3000:]
