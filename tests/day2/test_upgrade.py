"""A rolling upgrade on the cloud layout (make test-day2 deploys the older release DAY2_KAFKA_FROM
first): playbooks/upgrade.yml rolls the role's kafka_version through the nodes under 5,000
acknowledged updates/s, the active controller last, and loses nothing; the Connect workers follow;
metadata.version moves only with playbooks/upgrade-metadata.yml, and after it an older kafka_version
is refused with a clear message. Then a broker whose disk is lost comes back with site.yml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.lib.day2 import cluster_state, record, under_load, urp
from tests.lib.lab import INVENTORY, INVENTORY_DIR, REPO, TOOLS, ansible_playbook, inventory_groups, ssh, wait_until

pytestmark = pytest.mark.skipif(INVENTORY != "lab-cloud", reason="needs RASTRO_INVENTORY=lab-cloud (make test-day2)")

RELEASE = INVENTORY_DIR / "release.yml"
NEWEST = yaml.safe_load((REPO / "roles" / "kafka" / "defaults" / "main.yml").read_text())["kafka_version"]
# The release make test-day2 deployed first (read before the upgrade rewrites the file).
OLDER = yaml.safe_load(RELEASE.read_text())["all"]["vars"]["kafka_version"] if RELEASE.exists() else ""


def kafka_nodes() -> list[str]:
    groups = inventory_groups()
    return list(dict.fromkeys(groups["kafka_controller"] + groups["kafka_broker"]))


def running_release(host: str) -> str:
    return Path(ssh(host, "readlink -f /opt/kafka/current").stdout.strip()).name.removeprefix("kafka-")


def finalized_metadata() -> str:
    ctl = inventory_groups()["kafka_controller"][0]
    out = ssh(ctl, f"kafka-features {TOOLS} --bootstrap-controller {ctl}:9093 describe").stdout
    return re.search(r"Feature: metadata.version.*FinalizedVersionLevel: (\S+)", out).group(1)


def set_release(version: str) -> None:
    RELEASE.write_text(f"---\n# The Kafka release of this lab (make test-day2 and tests/day2 write it).\nall:\n  vars:\n"
                       f"    kafka_version: \"{version}\"\n")


def test_the_lab_starts_on_an_older_release() -> None:
    assert OLDER and OLDER != NEWEST
    assert {running_release(h) for h in kafka_nodes()} == {OLDER}
    assert finalized_metadata().startswith(".".join(OLDER.split(".")[:2]))


def test_upgrade_under_load_rolls_every_node_active_controller_last_and_loses_nothing() -> None:
    old_metadata = finalized_metadata()
    set_release(NEWEST)
    report = under_load("upgrade")
    log = (REPO / "artifacts" / "chaos" / report["run"] / "upgrade.log").read_text()
    assert {running_release(h) for h in kafka_nodes()} == {NEWEST}
    # The order it announced, and the restarts it made in that order, the active controller last.
    order = re.search(r"restart order ([^\"]+)", log).group(1).split(", ")
    restarted = re.findall(r"(?:TASK|RUNNING HANDLER) \[kafka : Restart Kafka on (\S+)\]", log)
    assert restarted == order, (restarted, order)
    assert order[-1] in inventory_groups()["kafka_controller"]
    # Leadership balanced at the end, Connect on the new jars, metadata.version untouched.
    state = cluster_state()
    assert not [tp for tp, p in state.partitions.items() if p.replicas and p.leader != p.replicas[0]]
    for host in inventory_groups()["connect"]:
        env = ssh(host, "systemctl show kafka-connect -p Environment").stdout
        assert f"kafka-{NEWEST}" in env, (host, env)
    assert finalized_metadata() == old_metadata
    record("upgrade-order", {"from_metadata": old_metadata, "order": order})


def test_metadata_is_raised_as_its_own_step_and_then_a_downgrade_is_refused() -> None:
    bump = ansible_playbook("playbooks/upgrade-metadata.yml", timeout=600)
    assert bump.returncode == 0, bump.stdout[-3000:]
    assert finalized_metadata().startswith(".".join(NEWEST.split(".")[:2]))
    again = ansible_playbook("playbooks/upgrade-metadata.yml", timeout=600)
    assert again.returncode == 0 and re.search(r"changed=0", again.stdout), again.stdout[-2000:]
    set_release(OLDER)
    try:
        refused = ansible_playbook("playbooks/kafka.yml", timeout=600)
        assert refused.returncode != 0
        assert "binary downgrade is refused" in refused.stdout and f"kafka_version={OLDER}" in refused.stdout, refused.stdout[-3000:]
        assert {running_release(h) for h in kafka_nodes()} == {NEWEST}
    finally:
        set_release(NEWEST)


def test_a_broker_whose_disk_is_lost_rejoins_and_re_replicates() -> None:
    host = inventory_groups()["kafka_broker"][-1]
    ssh(host, "systemctl stop kafka && rm -rf /var/lib/kafka/data && mkdir -p /var/lib/kafka/data && chown kafka: /var/lib/kafka/data")
    site = ansible_playbook("playbooks/kafka.yml", timeout=1200)
    assert site.returncode == 0, site.stdout[-3000:]
    assert "Format storage with cluster id" in site.stdout
    wait_until(lambda: urp() == 0, 600, interval=5, what=f"{host}'s replicas back in sync")
    assert ssh(host, "ls /var/lib/kafka/data | grep -c driver-locations").stdout.strip() != "0"
