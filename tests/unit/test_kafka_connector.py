"""The connector module's planning: change only what differs, delete undeclared only when asked."""

from __future__ import annotations

import pytest

from pathlib import Path

from conftest import kafka_connector as kc

REPO = Path(__file__).resolve().parents[2]

SINK = {"connector.class": "io.rastro.connect.redis.RedisSinkConnector", "tasks.max": 3, "topics": "driver-locations",
        "errors.log.enable": True}
STORED = {"connector.class": "io.rastro.connect.redis.RedisSinkConnector", "tasks.max": "3",
          "topics": "driver-locations", "errors.log.enable": "true", "name": "redis-sink"}


def test_missing_connector_is_created() -> None:
    steps, actions = kc.plan({}, [{"name": "redis-sink", "config": SINK}], False)
    assert steps == [("create", "redis-sink", STORED)]
    assert actions == ["create connector redis-sink"]


def test_equal_config_is_unchanged_whatever_the_value_types() -> None:
    steps, _ = kc.plan({"redis-sink": STORED}, [{"name": "redis-sink", "config": SINK}], False)
    assert steps == []


def test_only_a_differing_config_is_updated_and_named() -> None:
    stored = dict(STORED, **{"tasks.max": "1"})
    steps, actions = kc.plan({"redis-sink": stored}, [{"name": "redis-sink", "config": SINK}], False)
    assert steps == [("update", "redis-sink", STORED)]
    assert actions == ["update connector redis-sink: tasks.max"]


def test_undeclared_connectors_are_removed_only_when_asked() -> None:
    current = {"redis-sink": STORED, "old-sink": {"connector.class": "x", "name": "old-sink"}}
    steps, _ = kc.plan(current, [{"name": "redis-sink", "config": SINK}], False)
    assert steps == []
    steps, actions = kc.plan(current, [{"name": "redis-sink", "config": SINK}], True)
    assert steps == [("delete", "old-sink", None)]
    assert actions == ["delete undeclared connector old-sink"]


def test_absent_deletes_existing_only() -> None:
    assert kc.plan({}, [{"name": "redis-sink", "state": "absent"}], False)[0] == []
    assert kc.plan({"redis-sink": STORED}, [{"name": "redis-sink", "state": "absent"}], False)[0] == [
        ("delete", "redis-sink", None)]


@pytest.mark.parametrize("item,message", [
    ({"config": SINK}, "every entry needs a name"),
    ({"name": "x", "state": "paused"}, "connectors[x].state: must be present or absent (got 'paused')"),
    ({"name": "x", "config": {"topics": "t"}}, "connectors[x].config: a dict with connector.class is required"),
])
def test_bad_declarations_are_refused(item: dict, message: str) -> None:
    with pytest.raises(kc.ConnectError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        kc.plan({}, [item], False)


def test_passwords_are_redacted_in_diffs_unless_they_are_references() -> None:
    out = kc.redact({"redis.password": "hunter2", "other.password": "${file:/x:y}", "topics": "t"})
    assert out == {"redis.password": "********", "other.password": "${file:/x:y}", "topics": "t"}


def test_failed_parts_names_the_failed_connector_and_tasks_only() -> None:
    status = {"connector": {"state": "RUNNING"},
              "tasks": [{"id": 0, "state": "RUNNING"}, {"id": 1, "state": "FAILED"}, {"id": 2, "state": "FAILED"}]}
    assert kc.failed_parts(status) == ["task 1", "task 2"]
    assert kc.failed_parts(dict(status, connector={"state": "FAILED"}, tasks=[])) == ["connector"]
    assert kc.failed_parts({"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}) == []
    assert kc.failed_parts(None) == []


class FakeStatusOnly:
    """Only the status calls of ConnectClient, replaying a sequence of connector states."""

    def __init__(self, states: list[str]) -> None:
        self.states = states

    def status(self, name: str) -> dict:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"connector": {"state": state}, "tasks": [{"id": 0, "state": "RUNNING"}]}


def test_a_connector_unassigned_past_the_grace_is_to_be_restarted() -> None:
    assert kc.stays_unassigned(FakeStatusOnly(["UNASSIGNED"]), "redis-sink", 1.5) is True


def test_a_rebalance_that_ends_within_the_grace_restarts_nothing() -> None:
    assert kc.stays_unassigned(FakeStatusOnly(["UNASSIGNED", "RUNNING"]), "redis-sink", 30) is False
    assert kc.stays_unassigned(FakeStatusOnly(["RUNNING"]), "redis-sink", 30) is False
    assert kc.unassigned({"connector": {"state": "UNASSIGNED"}}) is True
    assert kc.unassigned(None) is False


def _watchdog():
    import importlib.util
    spec = importlib.util.spec_from_file_location("watchdog", REPO / "roles/kafka_connect/files/connect-watchdog.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_watchdog_acts_only_on_a_state_seen_twice_and_gives_up_on_a_real_failure() -> None:
    w = _watchdog()
    status = {
        "stuck": {"status": {"connector": {"state": "UNASSIGNED"}, "tasks": [{"state": "RUNNING"}]}},
        "broken": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"state": "FAILED"}, {"state": "RUNNING"}]}},
        "fine": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"state": "RUNNING"}]}},
        "starting": {"status": {"connector": {"state": "UNASSIGNED"}, "tasks": []}},
    }
    seen = w.problems(status)
    assert seen == {"stuck": "unassigned", "broken": "failed"}
    # First sight: nothing yet (a state in passing is left alone).
    actions, state = w.decide(1000.0, seen, {}, max_restarts=2, window=3600)
    assert actions == []
    actions, state = w.decide(1030.0, seen, state, max_restarts=2, window=3600)
    assert sorted(actions) == [("broken", "failed"), ("stuck", "unassigned")]
    actions, state = w.decide(1060.0, {"broken": "failed"}, state, max_restarts=2, window=3600)
    assert actions == [("broken", "failed")]
    # Two restarts in the window spent: a real failure, left as it is.
    actions, state = w.decide(1090.0, {"broken": "failed"}, state, max_restarts=2, window=3600)
    assert actions == [("broken", "give-up")]
    # The window passes: one more try.
    actions, _ = w.decide(5000.0, {"broken": "failed"}, state, max_restarts=2, window=3600)
    assert actions == [("broken", "failed")]


def test_watchdog_backs_off_between_restarts_of_a_crash_loop() -> None:
    w = _watchdog()
    seen = {"loop": "failed"}
    _, state = w.decide(0.0, seen, {}, max_restarts=5, window=3600, backoff=60)
    restarted = []
    for now in range(30, 1000, 30):
        actions, state = w.decide(float(now), seen, state, max_restarts=5, window=3600, backoff=60)
        if actions == [("loop", "failed")]:
            restarted.append(now)
    # The first restart at once, then 60, 120, 240 s apart; the fifth would be 480 s after the fourth.
    assert restarted == [30, 90, 210, 450, 930], restarted
