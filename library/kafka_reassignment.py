#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Spread partitions evenly over a set of brokers (Kafka's kafka-reassign-partitions tool)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_reassignment
short_description: Start a throttled reassignment that spreads every partition over the given brokers
description:
  - Reads every partition's replicas with C(kafka-topics --describe), plans a placement over I(brokers)
    that moves as few replicas as possible (replicas on brokers not listed move off; per topic, the
    replica and preferred-leader counts end at most one apart) and starts it with
    C(kafka-reassign-partitions --execute --throttle).
  - Does not wait: poll C(kafka-reassign-partitions --verify) with the returned I(plan_file), which also
    removes the throttle once every move has finished (playbooks/rebalance.yml does both).
  - Refuses to take a broker out while that would leave a partition with fewer in-sync replicas than its
    C(min.insync.replicas), or while another reassignment is running.
  - Reports C(changed) only when a reassignment starts; a balanced cluster is left alone.
  - Supports check mode and diff mode (replicas and preferred leaders per broker, before and after).
requirements: [Kafka's command-line tools on the host]
options:
  bootstrap_servers:
    description: Comma-separated host:port list of brokers for the tools.
    type: str
    required: true
  command_config:
    description: Client properties file for the tools; no secret is passed as an argument.
    type: path
    default: ""
  brokers:
    description: Node ids of the brokers that should hold replicas; every other broker is emptied.
    type: list
    elements: int
    required: true
  throttle:
    description: Replication throttle in bytes per second for the moves (Kafka's C(--throttle)).
    type: int
    default: 50000000
  min_insync_replicas:
    description: The brokers' default C(min.insync.replicas), for topics that do not set their own.
    type: int
    default: 2
  plan_file:
    description: Where the plan is written on the host (with C(.rollback) beside it, the assignment before).
    type: path
    default: /var/lib/kafka/rastro-reassignment.json
"""

EXAMPLES = r"""
- name: Spread partitions over every broker of the inventory
  kafka_reassignment:
    bootstrap_servers: kbroker-1.kafka.example.internal:9095
    command_config: /etc/kafka/tools.properties
    brokers: [101, 102, 103, 104]
    throttle: 50000000
"""

RETURN = r"""
plan_file:
  description: The reassignment file to pass to C(kafka-reassign-partitions --verify).
  type: str
  returned: always
partitions:
  description: Number of partitions whose replica list changes.
  type: int
  returned: always
moved_replicas:
  description: Replicas that change broker (an order change alone moves no data).
  type: int
  returned: always
before:
  description: Replicas and leaders per broker before.
  type: dict
  returned: always
after:
  description: Replicas and preferred leaders per broker once the plan is done.
  type: dict
  returned: always
"""

import json
import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_assignment import (PlacementError, check_removal, moved_replicas, parse_describe,
                                                   per_broker, plan_placement, to_json)
from ansible.module_utils.kafka_cli import KafkaCliError, run_tool


def _preferred_per_broker(assignment: dict) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for replicas in assignment.values():
        for i, b in enumerate(replicas):
            row = out.setdefault(b, {"replicas": 0, "leaders": 0})
            row["replicas"] += 1
            row["leaders"] += i == 0
    return dict(sorted(out.items()))


def _table(rows: dict[int, dict[str, int]]) -> str:
    return "".join(f"broker {b}: {r['replicas']} replicas, {r['leaders']} leaders\n" for b, r in rows.items())


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    tool = "/usr/local/bin/kafka-reassign-partitions"

    def cli(name: str, *args: str) -> str:
        return run_tool(module, name, p["bootstrap_servers"], p["command_config"], args)

    running = cli(tool, "--list")
    if "No partition reassignments found" not in running:
        raise PlacementError("a reassignment is already running; wait for it (kafka-reassign-partitions --verify "
                             f"--reassignment-json-file {p['plan_file']}) or cancel it (--cancel): "
                             + " ".join(running.split())[:400])
    state = parse_describe(cli("/usr/local/bin/kafka-topics", "--describe"))
    if not state.partitions:
        raise PlacementError("kafka-topics --describe listed no partitions")
    check_removal(state, p["brokers"], p["min_insync_replicas"])
    current = state.assignment()
    plan = plan_placement(current, p["brokers"])
    before = per_broker(state)
    after = _preferred_per_broker({**current, **plan})
    result: dict[str, Any] = {"changed": bool(plan), "plan_file": p["plan_file"], "partitions": len(plan),
                              "moved_replicas": moved_replicas(current, plan), "before": before, "after": after}
    if plan:
        result["diff"] = {"before": _table(before), "after": _table(after)}
    if not plan or module.check_mode:
        return result
    os.makedirs(os.path.dirname(p["plan_file"]), exist_ok=True)
    with open(p["plan_file"] + ".rollback", "w", encoding="utf-8") as f:
        json.dump(to_json({tp: current[tp] for tp in plan}), f)
    with open(p["plan_file"], "w", encoding="utf-8") as f:
        json.dump(to_json(plan), f)
    cli(tool, "--execute", "--reassignment-json-file", p["plan_file"], "--throttle", str(p["throttle"]))
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bootstrap_servers": {"type": "str", "required": True},
            "command_config": {"type": "path", "default": ""},
            "brokers": {"type": "list", "elements": "int", "required": True},
            "throttle": {"type": "int", "default": 50_000_000},
            "min_insync_replicas": {"type": "int", "default": 2},
            "plan_file": {"type": "path", "default": "/var/lib/kafka/rastro-reassignment.json"},
        },
        supports_check_mode=True,
    )
    if module.params["throttle"] <= 0:
        module.fail_json(msg=f"throttle: must be a positive number of bytes per second, got {module.params['throttle']}")
    try:
        module.exit_json(**run(module))
    except (PlacementError, KafkaCliError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
