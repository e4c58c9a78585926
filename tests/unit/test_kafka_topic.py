"""The topic module's planning: what it would change, and what it refuses."""

from __future__ import annotations

import pytest

from conftest import kafka_topic as kt

TopicState = kt.TopicState

DESIRED = TopicState("driver-locations", 12, 3, {"cleanup.policy": "compact", "min.insync.replicas": "2"})


def test_creates_a_missing_topic() -> None:
    plan = kt.plan_topic(None, DESIRED)
    assert plan.create and plan.changed
    assert "create topic driver-locations with 12 partitions, replication factor 3" in plan.actions[0]
    assert kt.planned_state(None, DESIRED, plan) == DESIRED


def test_matching_topic_is_unchanged() -> None:
    current = TopicState("driver-locations", 12, 3, {"min.insync.replicas": "2", "cleanup.policy": "compact"})
    plan = kt.plan_topic(current, DESIRED)
    assert not plan.changed
    assert plan.set_configs is None and plan.new_partitions is None


def test_only_differing_configs_trigger_a_change() -> None:
    current = TopicState("driver-locations", 12, 3, {"cleanup.policy": "compact", "min.insync.replicas": "1"})
    plan = kt.plan_topic(current, DESIRED)
    assert plan.changed
    assert plan.set_configs == DESIRED.configs
    assert plan.actions == ["set configs of driver-locations: min.insync.replicas=1->2"]


def test_undeclared_override_is_removed_unless_purge_is_off() -> None:
    current = TopicState("driver-locations", 12, 3, dict(DESIRED.configs, **{"retention.ms": "1000"}))
    plan = kt.plan_topic(current, DESIRED)
    assert plan.set_configs == DESIRED.configs
    assert "retention.ms=1000-><default>" in plan.actions[0]
    keep = kt.plan_topic(current, DESIRED, purge_configs=False)
    assert not keep.changed


def test_partitions_can_grow() -> None:
    current = TopicState("driver-locations", 6, 3, dict(DESIRED.configs))
    plan = kt.plan_topic(current, DESIRED)
    assert plan.new_partitions == 12
    assert kt.planned_state(current, DESIRED, plan).partitions == 12


def test_partitions_never_shrink() -> None:
    current = TopicState("driver-locations", 24, 3, dict(DESIRED.configs))
    with pytest.raises(kt.TopicError, match=r"partitions: topic 'driver-locations' has 24 partitions; cannot decrease to 12"):
        kt.plan_topic(current, DESIRED)


def test_replication_factor_is_fixed() -> None:
    current = TopicState("driver-locations", 12, 2, dict(DESIRED.configs))
    with pytest.raises(kt.TopicError, match=r"replication_factor: .* has replication factor 2; changing it to 3"):
        kt.plan_topic(current, DESIRED)


@pytest.mark.parametrize("name", ["__consumer_offsets", "__cluster_metadata", "__anything"])
def test_internal_topics_are_refused(name: str) -> None:
    with pytest.raises(kt.TopicError, match="internal topic"):
        kt.plan_topic(None, TopicState(name, 1, 3))


@pytest.mark.parametrize("name,partitions,rf,message", [
    ("", 1, 3, "name: a topic name is required"),
    ("bad topic", 1, 3, "name: 'bad topic' contains ' '"),
    ("x" * 250, 1, 3, "Kafka allows at most 249"),
    ("ok", 0, 3, r"partitions: must be at least 1 \(got 0\)"),
    ("ok", 1, 0, r"replication_factor: must be at least 1 \(got 0\)"),
])
def test_bad_declarations_name_field_and_value(name: str, partitions: int, rf: int, message: str) -> None:
    with pytest.raises(kt.TopicError, match=message):
        kt.plan_topic(None, TopicState(name, partitions, rf))


def test_absent_deletes_only_existing() -> None:
    assert not kt.plan_topic(None, DESIRED, state="absent").changed
    plan = kt.plan_topic(DESIRED, DESIRED, state="absent")
    assert plan.delete and kt.planned_state(DESIRED, DESIRED, plan) is None


def test_config_values_are_compared_as_kafka_strings() -> None:
    assert kt.normalize_configs({"a": 2, "b": True, "c": 0.1, "d": "x"}) == {"a": "2", "b": "true", "c": "0.1", "d": "x"}
    with pytest.raises(kt.TopicError, match=r"configs.retention.ms: a value is required \(got null\)"):
        kt.normalize_configs({"retention.ms": None})


SINGLE = {"name": None, "topics": None, "state": "present", "partitions": 1, "replication_factor": 3, "configs": {}}


def test_a_list_declares_each_topic_with_the_single_topic_defaults() -> None:
    got = kt.declarations(dict(SINGLE, topics=[
        {"name": "driver-locations", "partitions": 12, "configs": {"cleanup.policy": "compact", "min.insync.replicas": 2}},
        {"name": "old-topic", "state": "absent"},
    ]))
    assert got == [(TopicState("driver-locations", 12, 3, {"cleanup.policy": "compact", "min.insync.replicas": "2"}), "present"),
                   (TopicState("old-topic", 1, 3, {}), "absent")]
    assert kt.declarations(dict(SINGLE, name="t", partitions=3)) == [(TopicState("t", 3, 3, {}), "present")]


@pytest.mark.parametrize("topics,message", [
    ([{"partitions": 3}], r"topics\[0\].name: a topic name is required \(got None\)"),
    ([{"name": "a"}, {"name": "b", "partition": 3}], r"topics\[1\]: unknown key\(s\) partition"),
    ([{"name": "a", "state": "gone"}], r"topics\[0\].state: must be present or absent \(got 'gone'\)"),
    ([{"name": "a", "partitions": "twelve"}], r"topics\[0\] \(a\): partitions and replication_factor are integers"),
    ([{"name": "a", "configs": {"retention.ms": None}}], r"topics\[0\] \(a\): configs.retention.ms: a value is required"),
    ([{"name": "a", "configs": ["x"]}], r"topics\[0\].configs: a dict"),
    (["a"], r"topics\[0\]: a topic is a dict with at least a name \(got 'a'\)"),
    ([{"name": "a"}, {"name": "a"}], r"topics: declared more than once: a"),
    ([{"name": "a"}, {"name": "b", "partitions": 0}], r"topics\[1\] \(b\): partitions: must be at least 1 \(got 0\)"),
    ([{"name": "a"}, {"name": "__consumer_offsets", "state": "absent"}], r"topics\[1\] \(__consumer_offsets\): name: .* internal topic"),
])
def test_a_bad_list_item_is_named_by_its_index(topics: list, message: str) -> None:
    with pytest.raises(kt.TopicError, match=message):
        kt.declarations(dict(SINGLE, topics=topics))
