"""Topics as code: driver-locations as declared, and drift put back by the next run."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, ConfigResource

from tests.lib.lab import ansible_playbook, recap, wait_until

DECLARED = {
    "cleanup.policy": "compact",
    "min.insync.replicas": "2",
    "segment.ms": "300000",
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": "3600000",
    "max.compaction.lag.ms": "600000",
    "min.compaction.lag.ms": "0",
}


def topic_overrides(admin: AdminClient, name: str) -> dict[str, str]:
    res = ConfigResource("topic", name)
    entries = admin.describe_configs([res])[res].result(15)
    return {k: e.value for k, e in entries.items() if int(e.source) == 1}  # DYNAMIC_TOPIC_CONFIG


def set_by_hand(admin: AdminClient, name: str, configs: dict[str, str]) -> None:
    """Alter configs the way an operator would, and wait until brokers report the new values
    (config changes reach every broker through the metadata log a moment later)."""
    res = ConfigResource("topic", name, set_config=configs)
    admin.alter_configs([res])[res].result(15)
    wait_until(lambda: topic_overrides(admin, name) == configs, 30, interval=0.5, what=f"configs {configs} on {name}")


def test_driver_locations_is_compacted_rf3_minisr2(admin: AdminClient) -> None:
    def described():
        return admin.list_topics("driver-locations", timeout=15).topics["driver-locations"]

    # Right after the first deploy on a loaded 2-core controller a follower may still be catching up:
    # every replica must be in sync within a minute.
    wait_until(lambda: {len(p.isrs) for p in described().partitions.values()} == {3}, 60, interval=2,
               what="every replica of driver-locations in sync")
    topic = described()
    assert topic.error is None
    assert len(topic.partitions) == 12
    assert {len(p.replicas) for p in topic.partitions.values()} == {3}
    assert {len(p.isrs) for p in topic.partitions.values()} == {3}
    assert topic_overrides(admin, "driver-locations") == DECLARED


def test_dlq_is_delete_policy_seven_days(admin: AdminClient) -> None:
    cfg = topic_overrides(admin, "driver-locations-dlq")
    assert cfg["cleanup.policy"] == "delete"
    assert cfg["retention.ms"] == str(7 * 24 * 3600 * 1000)


FRAUD_180_DAYS = {"cleanup.policy": "delete", "retention.ms": "15552000000", "compression.type": "zstd",
                  "min.insync.replicas": "2"}
FRAUD_COMPACTED = {"cleanup.policy": "compact", "min.insync.replicas": "2", "delete.retention.ms": "86400000",
                   "min.cleanable.dirty.ratio": "0.1"}
FRAUD_TOPICS = {"card-transactions": (12, FRAUD_180_DAYS), "card-transactions-dlq": (3, FRAUD_180_DAYS),
                "fraud-decisions": (12, FRAUD_180_DAYS), "fraud-suspicious": (3, FRAUD_180_DAYS),
                "fraud-feedback": (3, FRAUD_180_DAYS), "fraud-blocklist-card": (3, FRAUD_COMPACTED),
                "fraud-blocklist-user": (3, FRAUD_COMPACTED), "fraud-blocklist-site": (3, FRAUD_COMPACTED),
                "fraud-reference-users": (3, FRAUD_COMPACTED), "fraud-reference-sites": (3, FRAUD_COMPACTED)}


def test_fraud_topics_keep_180_days_or_compact(admin: AdminClient) -> None:
    """docs/fraud.md: transactions, decisions, suspicious ones and feedback 180 days on zstd; the
    blocklists and reference data compacted; all RF 3, min ISR 2."""
    described = admin.list_topics(timeout=15).topics
    for name, (partitions, configs) in FRAUD_TOPICS.items():
        assert name in described, f"{name} missing"
        topic = described[name]
        assert len(topic.partitions) == partitions, name
        assert {len(p.replicas) for p in topic.partitions.values()} == {3}, name
        assert topic_overrides(admin, name) == configs, name


def test_hand_changed_config_is_reported_by_check_mode_then_put_back(admin: AdminClient) -> None:
    # An operator "fixes" things by hand: lowers min ISR, adds a retention override, doubles segment.ms.
    by_hand = dict(DECLARED, **{"min.insync.replicas": "1", "retention.ms": "60000", "segment.ms": "600000"})
    set_by_hand(admin, "driver-locations", by_hand)
    try:
        # --check reports the drift and changes nothing.
        check = ansible_playbook("playbooks/topics.yml", "--check", "--diff")
        assert check.returncode == 0, check.stdout[-3000:]
        assert recap(check.stdout)["kafka1"]["changed"] == 1, check.stdout[-3000:]
        assert topic_overrides(admin, "driver-locations") == by_hand  # untouched

        # A real run puts the declaration back, and its diff names what it put back.
        run = ansible_playbook("playbooks/topics.yml", "--diff")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr
        assert recap(run.stdout)["kafka1"]["changed"] == 1, run.stdout[-3000:]
        wait_until(lambda: topic_overrides(admin, "driver-locations") == DECLARED, 30, interval=0.5,
                   what="the declared configs to be back")
        assert '-        "min.insync.replicas": "1",' in run.stdout, run.stdout[-3000:]
        assert '+        "min.insync.replicas": "2",' in run.stdout, run.stdout[-3000:]
        assert '-        "retention.ms": "60000"' in run.stdout, run.stdout[-3000:]
        assert '-        "segment.ms": "600000"' in run.stdout, run.stdout[-3000:]
    finally:
        # The next run finds nothing to do (and, after a failed assertion above, puts the topic back).
        again = ansible_playbook("playbooks/topics.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap(again.stdout)["kafka1"]["changed"] == 0, again.stdout[-3000:]
    assert topic_overrides(admin, "driver-locations") == DECLARED
