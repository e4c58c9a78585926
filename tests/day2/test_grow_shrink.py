"""Day 2 on the cloud layout (make test-day2, inventory lab-cloud), each under 5,000 acknowledged
updates/s from chaos/verifier.py with nothing lost: a fourth broker joins (playbooks/add-broker.yml)
and receives a fair share of the partitions, throttled, the throttle removed afterwards and
leadership balanced; removing a broker is refused while a partition would fall under
min.insync.replicas; then that broker is removed again (playbooks/remove-broker.yml): emptied,
stopped, unregistered, and site.yml without it succeeds."""

from __future__ import annotations

import subprocess

import pytest
from confluent_kafka.admin import AdminClient

from tests.lib.day2 import cluster_state, no_throttle_left, placement, record, under_load, urp
from tests.lib.lab import INVENTORY, INVENTORY_DIR, REPO, ansible_env, ansible_playbook, ssh, wait_until

pytestmark = pytest.mark.skipif(INVENTORY != "lab-cloud", reason="needs RASTRO_INVENTORY=lab-cloud (make test-day2)")

NEW_BROKER_FILE = INVENTORY_DIR / "new-broker.yml"
NEW, NEW_ID = "kbroker-4", 104


def test_a_fourth_broker_joins_under_load_and_gets_a_fair_share(admin: AdminClient) -> None:
    NEW_BROKER_FILE.write_text("---\n# Written by tests/day2/test_grow_shrink.py: the broker that joins.\n"
                     f"all:\n  children:\n    kafka_broker:\n      hosts:\n        {NEW}:\n          kafka_node_id: {NEW_ID}\n")
    up = subprocess.run([str(REPO / "lab" / "lab.sh"), "up", str(INVENTORY_DIR)], capture_output=True, text=True,
                        env=ansible_env(), timeout=600)
    assert up.returncode == 0, up.stdout + up.stderr
    before = cluster_state()
    assert NEW_ID not in placement.per_broker(before)
    report = under_load("add-broker")

    state = cluster_state()
    rows = placement.per_broker(state)
    total = sum(r["replicas"] for r in rows.values())
    assert sorted(rows) == [101, 102, 103, NEW_ID], rows
    # Per topic the counts end at most one apart, so overall at most one per topic.
    topics = len({t for t, _ in state.partitions})
    assert rows[NEW_ID]["replicas"] >= total // 4 - topics, rows
    assert max(r["replicas"] for r in rows.values()) - min(r["replicas"] for r in rows.values()) <= topics, rows
    # Only the new broker's share moved: every other replica stayed where it was.
    moved = sum(len(set(p.replicas) - set(before.partitions[tp].replicas)) for tp, p in state.partitions.items())
    assert moved == rows[NEW_ID]["replicas"], (moved, rows)
    assert placement.not_preferred(state) == [], "leadership is not on the preferred replicas"
    assert rows[NEW_ID]["leaders"] > 0
    assert no_throttle_left()
    assert NEW_ID in {b.id for b in admin.list_topics(timeout=15).brokers.values()}
    record("add-broker-placement", {"replicas_and_leaders_per_broker": rows, "moved_replicas": moved,
                                    "produce_window_s": report["unavailability_window_s"]})


def test_removing_a_broker_is_refused_while_a_partition_would_fall_under_min_insync() -> None:
    ssh("kbroker-2", "systemctl stop kafka")
    try:
        wait_until(lambda: urp() > 0, 60, interval=2, what="under-replicated partitions with kbroker-2 down")
        proc = ansible_playbook("playbooks/remove-broker.yml", "-e", "kafka_remove_broker=kbroker-3", timeout=600)
        assert proc.returncode != 0, "remove-broker.yml emptied kbroker-3 while kbroker-2 was down"
        assert "refused" in proc.stdout and "min.insync.replicas" in proc.stdout, proc.stdout[-3000:]
        assert ssh("kbroker-3", "systemctl is-active kafka", check=False).stdout.strip() == "active"
    finally:
        ssh("kbroker-2", "systemctl start kafka")
    wait_until(lambda: urp() == 0, 300, interval=5, what="the cluster healthy again after kbroker-2's return")


def test_the_fourth_broker_leaves_under_load_emptied_stopped_and_unregistered(admin: AdminClient) -> None:
    under_load("remove-broker", "-e", f"target={NEW}")
    state = cluster_state()
    assert NEW_ID not in placement.per_broker(state), placement.per_broker(state)
    assert placement.not_preferred(state) == []
    assert no_throttle_left()
    assert ssh(NEW, "systemctl is-active kafka", check=False).stdout.strip() != "active"
    assert NEW_ID not in {b.id for b in admin.list_topics(timeout=15).brokers.values()}
    # The operator then takes it out of the inventory; site.yml runs without it.
    NEW_BROKER_FILE.unlink()
    site = ansible_playbook("site.yml", timeout=2400)
    assert site.returncode == 0, site.stdout[-4000:]
    subprocess.run([str(REPO / "lab" / "lab.sh"), "stop-host", NEW], capture_output=True, text=True, timeout=120)
    assert sorted(b.id for b in admin.list_topics(timeout=15).brokers.values()) == [101, 102, 103]
