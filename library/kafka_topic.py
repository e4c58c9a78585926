#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Declarative Kafka topic management for Ansible (confluent-kafka AdminClient)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_topic
short_description: Manage a Kafka topic declaratively
description:
  - Creates a topic with the given partitions, replication factor and configs.
  - On an existing topic, changes only the configs that differ from the declaration and reports
    C(changed) only then; topic-level overrides that are not declared are removed (set
    I(purge_configs=false) to keep them).
  - Can increase the partition count; refuses to decrease it or to change the replication factor.
  - Never touches internal topics (names starting with C(__)).
  - Supports check mode and diff mode.
requirements: [confluent-kafka]
options:
  bootstrap_servers:
    description: Comma-separated host:port list of brokers.
    type: str
    required: true
  client_config:
    description:
      - Further librdkafka client properties, e.g. C(security.protocol), C(ssl.ca.location),
        C(ssl.certificate.location), C(ssl.key.location) for the node's certificate.
    type: dict
    default: {}
  name:
    description: Topic name. One of I(name) and I(topics) is required.
    type: str
  topics:
    description:
      - Several topics declared in one module run (one connection to the cluster instead of one per
        topic). Each item takes I(name) and, optionally, I(state), I(partitions),
        I(replication_factor) and I(configs) with the meanings and defaults of the options below;
        I(purge_configs) and I(timeout) apply to all.
      - Mutually exclusive with I(name).
    type: list
    elements: dict
  state:
    description: Whether the topic should exist.
    type: str
    choices: [present, absent]
    default: present
  partitions:
    description: Number of partitions; may only grow.
    type: int
    default: 1
  replication_factor:
    description: Replication factor; fixed after creation.
    type: int
    default: 3
  configs:
    description: Topic-level configuration overrides (values are compared as strings).
    type: dict
    default: {}
  purge_configs:
    description: Remove topic-level overrides that are not in I(configs).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each admin request.
    type: int
    default: 30
author: rastro
"""

EXAMPLES = r"""
- name: A compacted topic keyed by driver
  kafka_topic:
    bootstrap_servers: 192.168.56.11:9092
    name: driver-locations
    partitions: 12
    replication_factor: 3
    configs:
      cleanup.policy: compact
      min.insync.replicas: "2"

- name: Every topic of the site in one run
  kafka_topic:
    bootstrap_servers: 192.168.56.11:9092
    topics:
      - {name: driver-locations, partitions: 12, configs: {cleanup.policy: compact}}
      - {name: driver-locations-dlq, partitions: 3, configs: {retention.ms: "604800000"}}
"""

RETURN = r"""
topic:
  description: The topic as it is after the run (or would be, in check mode).
  returned: with I(name) and state=present
  type: dict
  sample: {"name": "driver-locations", "partitions": 12, "replication_factor": 3, "configs": {"cleanup.policy": "compact"}}
topics:
  description: With I(topics), each present topic as it is after the run (or would be, in check mode).
  returned: with I(topics)
  type: list
  elements: dict
actions:
  description: What was (or would be) done.
  returned: always
  type: list
  elements: str
"""

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible.module_utils.basic import AnsibleModule

try:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    HAS_KAFKA = True
except ImportError:  # reported through fail_json so the user sees what to install
    HAS_KAFKA = False


class TopicError(Exception):
    """A declaration that cannot be applied; the message is shown to the user as is."""


@dataclass
class TopicState:
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "partitions": self.partitions,
            "replication_factor": self.replication_factor,
            "configs": dict(sorted(self.configs.items())),
        }


@dataclass
class Plan:
    create: bool = False
    delete: bool = False
    new_partitions: Optional[int] = None
    set_configs: Optional[dict[str, str]] = None
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def normalize_configs(configs: dict[str, Any]) -> dict[str, str]:
    """Kafka reports every config value as a string; compare like with like."""
    out: dict[str, str] = {}
    for key, value in (configs or {}).items():
        if value is None:
            raise TopicError(f"configs.{key}: a value is required (got null)")
        if isinstance(value, bool):
            out[str(key)] = "true" if value else "false"
        else:
            out[str(key)] = str(value)
    return out


def refuse_internal(name: str) -> None:
    if name.startswith("__"):
        raise TopicError(f"name: '{name}' is an internal topic (starts with '__'); this module never manages those")


def validate_declaration(name: str, partitions: int, replication_factor: int) -> None:
    if not name or not name.strip():
        raise TopicError("name: a topic name is required (got an empty string)")
    if len(name) > 249:
        raise TopicError(f"name: '{name[:40]}...' is {len(name)} characters; Kafka allows at most 249")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    bad = sorted(set(name) - allowed)
    if bad:
        raise TopicError(f"name: '{name}' contains {''.join(bad)!r}; only letters, digits, '.', '_' and '-' are allowed")
    if partitions < 1:
        raise TopicError(f"partitions: must be at least 1 (got {partitions})")
    if replication_factor < 1:
        raise TopicError(f"replication_factor: must be at least 1 (got {replication_factor})")


def check_declaration(desired: TopicState, state: str) -> None:
    """What a declaration may ask, whatever the cluster holds: no internal topic; a present one with
    a valid partition count and replication factor."""
    refuse_internal(desired.name)
    if state == "present":
        validate_declaration(desired.name, desired.partitions, desired.replication_factor)


def plan_topic(current: Optional[TopicState], desired: TopicState, state: str = "present",
               purge_configs: bool = True) -> Plan:
    """Work out the smallest set of changes that makes `current` match the declaration."""
    plan = Plan()
    check_declaration(desired, state)
    if state == "absent":
        if current is not None:
            plan.delete = True
            plan.actions.append(f"delete topic {desired.name}")
        return plan

    if current is None:
        plan.create = True
        plan.actions.append(
            f"create topic {desired.name} with {desired.partitions} partitions, "
            f"replication factor {desired.replication_factor}")
        return plan

    if desired.replication_factor != current.replication_factor:
        raise TopicError(
            f"replication_factor: topic '{desired.name}' has replication factor {current.replication_factor}; "
            f"changing it to {desired.replication_factor} needs a partition reassignment, which this module does not do")
    if desired.partitions < current.partitions:
        raise TopicError(
            f"partitions: topic '{desired.name}' has {current.partitions} partitions; cannot decrease to "
            f"{desired.partitions} (Kafka cannot remove partitions, and keys would move)")
    if desired.partitions > current.partitions:
        plan.new_partitions = desired.partitions
        plan.actions.append(f"increase partitions of {desired.name} from {current.partitions} to {desired.partitions}")

    wanted = dict(desired.configs)
    if not purge_configs:
        wanted = {**current.configs, **wanted}
    if wanted != current.configs:
        plan.set_configs = wanted
        changed_keys = sorted(k for k in set(wanted) | set(current.configs)
                              if wanted.get(k) != current.configs.get(k))
        plan.actions.append(f"set configs of {desired.name}: " + ", ".join(
            f"{k}={current.configs.get(k, '<default>')}->{wanted.get(k, '<default>')}" for k in changed_keys))
    return plan


def planned_state(current: Optional[TopicState], desired: TopicState, plan: Plan) -> Optional[TopicState]:
    if plan.delete:
        return None
    if plan.create:
        return desired
    assert current is not None
    return TopicState(
        name=current.name,
        partitions=plan.new_partitions or current.partitions,
        replication_factor=current.replication_factor,
        configs=plan.set_configs if plan.set_configs is not None else current.configs,
    )


class KafkaTopics:
    """The few AdminClient calls the module needs, with errors turned into TopicError."""

    # ConfigSource.DYNAMIC_TOPIC_CONFIG; the enum moved between client versions.
    DYNAMIC_TOPIC_CONFIG = 1

    def __init__(self, bootstrap_servers: str, timeout: int, client_config: Optional[dict[str, Any]] = None) -> None:
        self.timeout = timeout
        self.admin = AdminClient({**(client_config or {}), "bootstrap.servers": bootstrap_servers,
                                  "socket.timeout.ms": timeout * 1000})

    def _result(self, future: Any, what: str) -> Any:
        try:
            return future.result(timeout=self.timeout)
        except KafkaException as exc:
            raise TopicError(f"{what}: {exc.args[0] if exc.args else exc}") from exc

    def describe(self, name: str) -> Optional[TopicState]:
        try:
            md = self.admin.list_topics(topic=name, timeout=self.timeout)
        except KafkaException as exc:
            raise TopicError(f"cannot reach the brokers to describe '{name}': {exc}") from exc
        topic = md.topics.get(name)
        # UNKNOWN_TOPIC_OR_PART from the broker, or librdkafka's own _UNKNOWN_TOPIC
        if topic is None or (topic.error is not None and topic.error.code() in (3, -188)):
            return None
        if topic.error is not None:
            raise TopicError(f"describe '{name}': {topic.error.str()}")
        rfs = {len(p.replicas) for p in topic.partitions.values()}
        resource = ConfigResource("topic", name)
        entries = self._result(self.admin.describe_configs([resource])[resource], f"describe configs of '{name}'")
        configs = {k: e.value for k, e in entries.items()
                   if int(getattr(e.source, "value", e.source)) == self.DYNAMIC_TOPIC_CONFIG}
        return TopicState(name, len(topic.partitions), max(rfs) if rfs else 0, configs)

    def create(self, desired: TopicState) -> None:
        new = NewTopic(desired.name, num_partitions=desired.partitions,
                       replication_factor=desired.replication_factor, config=desired.configs)
        fut = self.admin.create_topics([new], operation_timeout=self.timeout, request_timeout=self.timeout)
        self._result(fut[desired.name], f"create topic '{desired.name}'")

    def delete(self, name: str) -> None:
        fut = self.admin.delete_topics([name], operation_timeout=self.timeout, request_timeout=self.timeout)
        self._result(fut[name], f"delete topic '{name}'")

    def add_partitions(self, name: str, total: int) -> None:
        fut = self.admin.create_partitions([NewPartitions(name, total)], request_timeout=self.timeout)
        self._result(fut[name], f"increase partitions of '{name}' to {total}")

    def set_configs(self, name: str, configs: dict[str, str]) -> None:
        # AlterConfigs replaces the topic's whole override set: exactly the declarative semantics
        # wanted here, and available in every client version Debian ships.
        resource = ConfigResource("topic", name, set_config=configs)
        fut = self.admin.alter_configs([resource], request_timeout=self.timeout)
        self._result(fut[resource], f"alter configs of '{name}'")

    def wait_applied(self, expected: TopicState) -> TopicState:
        """Poll until the brokers show `expected`: its partitions and its configs.

        Metadata and configs reach every broker a moment after the controller accepts a change, and a
        describe goes to any broker: without the wait, a read right after a change (this module's own
        diff, or the next task) can still see the old state."""
        deadline = time.monotonic() + self.timeout
        cur: Optional[TopicState] = None
        while time.monotonic() < deadline:
            try:
                cur = self.describe(expected.name)
            except TopicError:
                cur = None
            if cur is not None and cur.partitions >= expected.partitions and cur.configs == expected.configs:
                return cur
            time.sleep(0.2)
        raise TopicError(f"topic '{expected.name}': the brokers did not show the change within {self.timeout}s "
                         f"(last seen: {cur.as_dict() if cur else 'no such topic'})")


@dataclass
class Outcome:
    """What declaring one topic did (or would do, in check mode)."""
    changed: bool
    actions: list[str]
    before: Optional[TopicState]
    after: Optional[TopicState]

    def diff(self, name: str) -> dict[str, Any]:
        return {"before": self.before.as_dict() if self.before else {},
                "after": self.after.as_dict() if self.after else {},
                "before_header": f"topic {name}", "after_header": f"topic {name}"}


def declare(kafka: KafkaTopics, desired: TopicState, state: str, purge_configs: bool, check_mode: bool) -> Outcome:
    current = kafka.describe(desired.name)
    plan = plan_topic(current, desired, state, purge_configs)
    after = planned_state(current, desired, plan)

    if plan.changed and not check_mode:
        if plan.delete:
            kafka.delete(desired.name)
        else:
            if plan.create:
                kafka.create(desired)
            if plan.new_partitions:
                kafka.add_partitions(desired.name, plan.new_partitions)
            if plan.set_configs is not None:
                kafka.set_configs(desired.name, plan.set_configs)
            assert after is not None
            after = kafka.wait_applied(after)
    return Outcome(plan.changed, plan.actions, current, after)


TOPIC_KEYS = {"name", "state", "partitions", "replication_factor", "configs"}


def declarations(params: dict[str, Any]) -> list[tuple[TopicState, str]]:
    """(desired state, present/absent) for each topic the task declares; a bad item is named."""
    if params["topics"] is None:
        return [(TopicState(params["name"], params["partitions"], params["replication_factor"],
                            normalize_configs(params["configs"])), params["state"])]
    out: list[tuple[TopicState, str]] = []
    for i, item in enumerate(params["topics"]):
        where = f"topics[{i}]"
        if not isinstance(item, dict):
            raise TopicError(f"{where}: a topic is a dict with at least a name (got {item!r})")
        unknown = sorted(set(item) - TOPIC_KEYS)
        if unknown:
            raise TopicError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(TOPIC_KEYS))})")
        if not isinstance(item.get("name"), str):
            raise TopicError(f"{where}.name: a topic name is required (got {item.get('name')!r})")
        state = item.get("state", "present")
        if state not in ("present", "absent"):
            raise TopicError(f"{where}.state: must be present or absent (got {state!r})")
        try:
            partitions = int(item.get("partitions", 1))
            replication_factor = int(item.get("replication_factor", 3))
        except (TypeError, ValueError) as exc:
            raise TopicError(f"{where} ({item['name']}): partitions and replication_factor are integers: {exc}") from exc
        if not isinstance(item.get("configs", {}), dict):
            raise TopicError(f"{where}.configs: a dict of config: value (got {item.get('configs')!r})")
        # Every item checked before the first is applied: a bad one must not leave the list half done.
        try:
            desired = TopicState(item["name"], partitions, replication_factor,
                                 normalize_configs(item.get("configs", {})))
            check_declaration(desired, state)
        except TopicError as exc:
            raise TopicError(f"{where} ({item['name']}): {exc}") from exc
        out.append((desired, state))
    names = [d.name for d, _ in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise TopicError(f"topics: declared more than once: {', '.join(twice)}")
    return out


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    wanted = declarations(p)
    kafka = KafkaTopics(p["bootstrap_servers"], p["timeout"], {k: str(v) for k, v in p["client_config"].items()})
    outcomes = [(desired.name, declare(kafka, desired, state, p["purge_configs"], module.check_mode))
                for desired, state in wanted]

    result: dict[str, Any] = {"changed": any(o.changed for _, o in outcomes),
                              "actions": [a for _, o in outcomes for a in o.actions]}
    if p["topics"] is None:
        name, outcome = outcomes[0]
        if outcome.after is not None:
            result["topic"] = outcome.after.as_dict()
        if module._diff:
            result["diff"] = outcome.diff(name)
    else:
        result["topics"] = [o.after.as_dict() for _, o in outcomes if o.after is not None]
        if module._diff:
            # One diff per topic that changed: the callback prints each under its own header.
            result["diff"] = [o.diff(name) for name, o in outcomes if o.changed]
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            bootstrap_servers=dict(type="str", required=True),
            client_config=dict(type="dict", default={}),
            name=dict(type="str"),
            topics=dict(type="list", elements="dict"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            partitions=dict(type="int", default=1),
            replication_factor=dict(type="int", default=3),
            configs=dict(type="dict", default={}),
            purge_configs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
        ),
        mutually_exclusive=[("name", "topics")],
        required_one_of=[("name", "topics")],
        supports_check_mode=True,
    )
    if not HAS_KAFKA:
        module.fail_json(msg="kafka_topic needs the confluent-kafka Python library on the host that runs it "
                             "(Debian: python3-confluent-kafka; pip: confluent-kafka)")
    try:
        module.exit_json(**run(module))
    except TopicError as exc:
        module.fail_json(msg=str(exc), changed=False)


if __name__ == "__main__":
    main()
