"""Partition placement: parsing kafka-topics, the minimal-move plan for adding and removing brokers,
preferred leaders, and the min.insync.replicas guard on removal."""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import kafka_assignment as ka

DESCRIBE = """Topic: driver-locations\tTopicId: abc\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: cleanup.policy=compact,min.insync.replicas=2,segment.ms=600000
\tTopic: driver-locations\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tElr: \tLastKnownElr: 
\tTopic: driver-locations\tPartition: 1\tLeader: 3\tReplicas: 2,3,1\tIsr: 3,1\tElr: \tLastKnownElr: 
\tTopic: driver-locations\tPartition: 2\tLeader: none\tReplicas: 3,1,2\tIsr: \tElr: \tLastKnownElr: 
Topic: other\tTopicId: def\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: 
\tTopic: other\tPartition: 0\tLeader: 2\tReplicas: 2,1\tIsr: 2,1\tElr: \tLastKnownElr: 
"""


def three_broker_cluster(partitions: int = 12, rf: int = 3, topics: tuple[str, ...] = ("a", "b")) -> ka.Assignment:
    """Kafka's own round-robin placement on brokers 1..3."""
    return {(t, p): [1 + (p + i) % 3 for i in range(rf)] for t in topics for p in range(partitions)}


def counts(assignment: ka.Assignment, topic: str | None = None) -> Counter:
    return Counter(b for tp, r in assignment.items() if topic in (None, tp[0]) for b in r)


def leaders(assignment: ka.Assignment, topic: str) -> Counter:
    return Counter(r[0] for tp, r in assignment.items() if tp[0] == topic)


def test_describe_is_parsed_with_leaders_isr_and_topic_min_insync() -> None:
    state = ka.parse_describe(DESCRIBE)
    assert len(state.partitions) == 4
    p1 = state.partitions[("driver-locations", 1)]
    assert (p1.leader, p1.replicas, p1.isr) == (3, [2, 3, 1], [3, 1])
    assert state.partitions[("driver-locations", 2)].leader is None
    assert state.min_insync == {"driver-locations": 2}
    # Partition 1's preferred replica (2) is out of sync: no election can make it leader.
    assert ka.not_preferred(state) == []
    assert ka.per_broker(state)[2] == {"replicas": 4, "leaders": 1}


def test_adding_a_fourth_broker_moves_a_fair_share_and_no_more() -> None:
    current = three_broker_cluster()
    plan = ka.plan_placement(current, [1, 2, 3, 4])
    after = {**current, **plan}
    for topic in ("a", "b"):
        c = counts(after, topic)
        assert sorted(c.values()) == [9, 9, 9, 9], c
        assert max(leaders(after, topic).values()) - min(leaders(after, topic).values()) <= 1
    # 72 replicas over 4 brokers: 18 is the fair share the new broker must receive, and only those move.
    assert ka.moved_replicas(current, plan) == 18
    assert all(len(set(r)) == len(r) for r in after.values()), "a broker twice in one partition"


def test_balanced_cluster_needs_no_plan() -> None:
    current = three_broker_cluster()
    assert ka.plan_placement(current, [1, 2, 3]) == {}
    after = {**current, **ka.plan_placement(current, [1, 2, 3, 4])}
    assert ka.plan_placement(after, [1, 2, 3, 4]) == {}, "planning twice must be a no-op"


def test_removing_a_broker_moves_only_its_replicas() -> None:
    current = {**three_broker_cluster(), **ka.plan_placement(three_broker_cluster(), [1, 2, 3, 4])}
    plan = ka.plan_placement(current, [1, 2, 3])
    after = {**current, **plan}
    assert 4 not in counts(after)
    assert ka.moved_replicas(current, plan) == counts(current)[4]
    for topic in ("a", "b"):
        assert sorted(counts(after, topic).values()) == [12, 12, 12]


def test_more_replicas_than_brokers_is_refused_naming_the_partition() -> None:
    with pytest.raises(ka.PlacementError, match=r"a-0 has 3 replicas but brokers lists only \[1, 2\]"):
        ka.plan_placement(three_broker_cluster(), [1, 2])
    with pytest.raises(ka.PlacementError, match="brokers"):
        ka.plan_placement(three_broker_cluster(), [])


def test_removal_is_refused_while_it_would_leave_a_partition_under_min_insync() -> None:
    state = ka.parse_describe(DESCRIBE)
    # Broker 1 leaving: driver-locations-1 keeps only broker 3 in sync (< 2).
    with pytest.raises(ka.PlacementError, match=r"driver-locations-1: in-sync replicas \[3, 1\].*1 < min.insync.replicas=2"):
        ka.check_removal(state, keep=[2, 3, 4], default_min_insync=2)
    # With every replica in sync, driver-locations (RF 3, its own min.insync.replicas=2) may lose one;
    # `other` (RF 2, no setting of its own) follows the broker default.
    healthy = ka.parse_describe(DESCRIBE.replace("Isr: 3,1", "Isr: 3,1,2").replace("Isr: \t", "Isr: 3,1,2\t"))
    ka.check_removal(healthy, keep=[2, 3, 4], default_min_insync=1)
    with pytest.raises(ka.PlacementError, match=r"other-0: .* 1 < min.insync.replicas=2") as refused:
        ka.check_removal(healthy, keep=[2, 3, 4], default_min_insync=2)
    assert "driver-locations" not in str(refused.value)
    with pytest.raises(ka.PlacementError, match=r"has 3 replicas but only 2 brokers would remain"):
        ka.check_removal(healthy, keep=[2, 3], default_min_insync=1)


def test_plan_file_is_kafka_reassign_partitions_format() -> None:
    doc = ka.to_json({("a", 1): [4, 2, 3]})
    assert doc == {"version": 1, "partitions": [{"topic": "a", "partition": 1, "replicas": [4, 2, 3], "log_dirs": ["any"] * 3}]}
