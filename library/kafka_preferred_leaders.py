#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Give every partition back to its preferred leader (Kafka's kafka-leader-election tool)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_preferred_leaders
short_description: Elect the preferred leader of every partition and wait until leadership is balanced
description:
  - After a broker restarts, the partitions it led stay with the others until something elects them
    back; right after a rolling restart one broker may lead everything. This runs
    C(kafka-leader-election --election-type PREFERRED --all-topic-partitions) and waits until every
    partition whose preferred replica is in sync is led by it.
  - Reports C(changed) only when some partition was led by another replica.
  - Supports check mode (lists what an election would move).
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
  timeout:
    description: Seconds to wait for the leaders to move.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Balance leadership after a roll
  kafka_preferred_leaders:
    bootstrap_servers: kafka1:9095
    command_config: /etc/kafka/tools.properties
"""

RETURN = r"""
moved:
  description: Partitions that were led by another replica than their preferred one.
  type: list
  elements: str
  returned: always
leaders:
  description: Replicas and leaders per broker afterwards.
  type: dict
  returned: always
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_assignment import not_preferred, parse_describe, per_broker
from ansible.module_utils.kafka_cli import KafkaCliError, run_tool


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params

    def describe():
        return parse_describe(run_tool(module, "/usr/local/bin/kafka-topics", p["bootstrap_servers"],
                                       p["command_config"], ["--describe"]))

    state = describe()
    pending = not_preferred(state)
    moved = [f"{t}-{n}" for t, n in pending]
    if not pending or module.check_mode:
        return {"changed": bool(pending), "moved": moved, "leaders": per_broker(state)}
    deadline = time.monotonic() + p["timeout"]
    error = ""
    while True:
        # An election can fail for a partition whose preferred replica is catching up: try again.
        try:
            run_tool(module, "/usr/local/bin/kafka-leader-election", p["bootstrap_servers"], p["command_config"],
                     ["--election-type", "PREFERRED", "--all-topic-partitions"])
        except KafkaCliError as exc:
            error = str(exc)
        time.sleep(2)
        state = describe()
        pending = not_preferred(state)
        if not pending:
            return {"changed": True, "moved": moved, "leaders": per_broker(state)}
        if time.monotonic() > deadline:
            module.fail_json(msg=f"after {p['timeout']} s, {len(pending)} partitions are still not led by their "
                                 f"preferred replica: {', '.join(f'{t}-{n}' for t, n in pending[:20])}"
                                 + (f"; last election: {error}" if error else ""),
                             moved=moved, leaders=per_broker(state))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bootstrap_servers": {"type": "str", "required": True},
            "command_config": {"type": "path", "default": ""},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except KafkaCliError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
