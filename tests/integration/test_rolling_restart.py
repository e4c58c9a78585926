"""playbooks/rolling_restart.yml restarts the named node and leaves the cluster healthy."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient

from tests.lib.lab import ansible_playbook, ssh


def test_on_demand_rolling_restart_of_one_node(admin: AdminClient) -> None:
    before = ssh("kafka2", "systemctl show -p MainPID --value kafka").stdout.strip()
    run = ansible_playbook("playbooks/rolling_restart.yml", "-e", "kafka_restart_only=kafka2")
    assert run.returncode == 0, run.stdout[-4000:]
    assert "Restart Kafka on kafka2" in run.stdout
    assert "Restart Kafka on kafka1" not in run.stdout and "Restart Kafka on kafka3" not in run.stdout
    after = ssh("kafka2", "systemctl show -p MainPID --value kafka").stdout.strip()
    assert after != before and after != "0"
    topics = admin.list_topics(timeout=15).topics
    assert all(len(p.isrs) == len(p.replicas) for t in topics.values() for p in t.partitions.values())
