#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Declarative Kafka ACLs for Ansible (Kafka's kafka-acls tool)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_acl
short_description: Declare the whole set of Kafka ACLs
description:
  - Adds the declared ACL bindings that are missing and, with I(remove_undeclared), removes every
    binding of a managed principal that is not declared, so the declaration is the cluster's ACL set.
  - Reports C(changed) only when a binding is added or removed.
  - Supports check mode and diff mode (the diff lists bindings, one per line).
  - Runs Kafka's C(kafka-acls) on the host, authenticated by I(command_config); no secret is passed
    as an argument.
requirements: [Kafka's command-line tools on the host]
options:
  bootstrap_servers:
    description: Comma-separated host:port list of brokers for the tool.
    type: str
    required: true
  command_config:
    description: Client properties file for the tool (security protocol, keystore or SASL credentials).
    type: path
    default: ""
  acls:
    description: The ACL declarations; each expands to one binding per operation.
    type: list
    elements: dict
    required: true
    suboptions:
      principal:
        description: Principal, e.g. C(User:producer).
        type: str
        required: true
      resource_type:
        description: Resource type.
        type: str
        choices: [topic, group, cluster, transactional-id]
        required: true
      name:
        description: Resource name (C(*) for any); ignored for C(cluster).
        type: str
        default: kafka-cluster
      pattern:
        description: How I(name) matches.
        type: str
        choices: [literal, prefixed]
        default: literal
      operations:
        description: Operations, e.g. C(Read), C(Write), C(Describe), C(IdempotentWrite).
        type: list
        elements: str
        required: true
      permission:
        description: Allow or deny.
        type: str
        choices: [allow, deny]
        default: allow
      host:
        description: Client host the binding applies to.
        type: str
        default: "*"
  remove_undeclared:
    description: Remove bindings of managed principals that are not declared.
    type: bool
    default: true
  managed_principals:
    description: Principals whose undeclared bindings are removed; empty means every principal.
    type: list
    elements: str
    default: []
  kafka_acls:
    description: Path of the kafka-acls wrapper.
    type: path
    default: /usr/local/bin/kafka-acls
author: rastro
"""

EXAMPLES = r"""
- name: The producer may write driver-locations and nothing else
  kafka_acl:
    bootstrap_servers: 192.168.56.11:9095
    command_config: /etc/kafka/tools.properties
    acls:
      - {principal: "User:producer", resource_type: topic, name: driver-locations, operations: [Write, Describe]}
      - {principal: "User:producer", resource_type: cluster, operations: [IdempotentWrite]}
"""

RETURN = r"""
added:
  description: Bindings added (or that would be), as text.
  returned: always
  type: list
  elements: str
removed:
  description: Bindings removed (or that would be), as text.
  returned: always
  type: list
  elements: str
"""

import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, NamedTuple

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_cli import KafkaCliError, run_tool

OPERATIONS = {
    "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "CLUSTERACTION", "DESCRIBECONFIGS",
    "ALTERCONFIGS", "IDEMPOTENTWRITE", "CREATETOKENS", "DESCRIBETOKENS",
}
# kafka-acls' spelling of each operation on its command line.
CLI_OPERATION = {
    "ALL": "All", "READ": "Read", "WRITE": "Write", "CREATE": "Create", "DELETE": "Delete", "ALTER": "Alter",
    "DESCRIBE": "Describe", "CLUSTERACTION": "ClusterAction", "DESCRIBECONFIGS": "DescribeConfigs",
    "ALTERCONFIGS": "AlterConfigs", "IDEMPOTENTWRITE": "IdempotentWrite", "CREATETOKENS": "CreateTokens",
    "DESCRIBETOKENS": "DescribeTokens",
}
RESOURCE_OPTION = {"TOPIC": "--topic", "GROUP": "--group", "TRANSACTIONAL_ID": "--transactional-id"}

RESOURCE_LINE = re.compile(r"resourceType=(\w+), name=(.*?), patternType=(\w+)\)")
ACL_LINE = re.compile(r"\(principal=(.*?), host=(.*?), operation=(\w+), permissionType=(\w+)\)")


class AclError(Exception):
    """A declaration that cannot be applied; the message is shown to the user as is."""


class Binding(NamedTuple):
    principal: str
    resource_type: str   # TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID
    name: str
    pattern: str         # LITERAL, PREFIXED
    operation: str       # normalised: upper case, no underscores
    permission: str      # ALLOW, DENY
    host: str

    def text(self) -> str:
        return (f"{self.permission} {self.principal} {CLI_OPERATION[self.operation]} on {self.resource_type} "
                f"{self.name} ({self.pattern}) from {self.host}")


def _norm_op(op: str) -> str:
    return op.replace("_", "").replace("-", "").upper()


def expand(declarations: Iterable[dict[str, Any]]) -> set[Binding]:
    """Declarations → bindings; AclError names the entry and field of anything invalid."""
    out: set[Binding] = set()
    for i, d in enumerate(declarations):
        principal = d.get("principal") or ""
        if not re.match(r"^[A-Za-z]+:.+", principal):
            raise AclError(f"acls[{i}].principal must look like User:name (got {principal!r})")
        rtype = str(d.get("resource_type", "")).upper().replace("-", "_")
        if rtype not in ("TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID"):
            raise AclError(f"acls[{i}].resource_type must be topic, group, cluster or transactional-id "
                           f"(got {d.get('resource_type')!r})")
        name = "kafka-cluster" if rtype == "CLUSTER" else str(d.get("name") or "")
        if not name:
            raise AclError(f"acls[{i}].name must be set for resource_type {d.get('resource_type')}")
        pattern = str(d.get("pattern") or "literal").upper()
        if pattern not in ("LITERAL", "PREFIXED") or (rtype == "CLUSTER" and pattern != "LITERAL"):
            raise AclError(f"acls[{i}].pattern must be literal or prefixed (literal for cluster; got {d.get('pattern')!r})")
        permission = str(d.get("permission") or "allow").upper()
        if permission not in ("ALLOW", "DENY"):
            raise AclError(f"acls[{i}].permission must be allow or deny (got {d.get('permission')!r})")
        ops = d.get("operations") or []
        if not ops:
            raise AclError(f"acls[{i}].operations must list at least one operation")
        for op in ops:
            if _norm_op(op) not in OPERATIONS:
                raise AclError(f"acls[{i}].operations: unknown operation {op!r} (one of {', '.join(sorted(CLI_OPERATION.values()))})")
            out.add(Binding(principal, rtype, name, pattern, _norm_op(op), permission, str(d.get("host") or "*")))
    return out


def parse_list(output: str) -> set[Binding]:
    """The bindings in `kafka-acls --list` output."""
    found: set[Binding] = set()
    resource = None
    for line in output.splitlines():
        m = RESOURCE_LINE.search(line)
        if m:
            resource = (m.group(1).upper(), m.group(2), m.group(3).upper())
            continue
        m = ACL_LINE.search(line)
        if m and resource:
            found.add(Binding(m.group(1), resource[0], resource[1], resource[2], _norm_op(m.group(3)),
                              m.group(4).upper(), m.group(2)))
    return found


def plan(current: set[Binding], desired: set[Binding], remove_undeclared: bool,
         managed: Iterable[str] = ()) -> tuple[list[Binding], list[Binding]]:
    """(to add, to remove), each sorted."""
    managed = set(managed)
    add = sorted(desired - current)
    remove = sorted(b for b in current - desired
                    if remove_undeclared and (not managed or b.principal in managed))
    return add, remove


def commands(bindings: Iterable[Binding], action: str) -> list[list[str]]:
    """kafka-acls arguments for exactly these bindings, in as few commands as possible (each one is a
    JVM start): kafka-acls applies every principal × resource × operation it is given, so bindings
    that share the operation set are merged over resource names, then over principals."""
    ops: dict[tuple, set[str]] = defaultdict(set)
    for b in bindings:
        ops[(b.principal, b.resource_type, b.name, b.pattern, b.permission, b.host)].add(b.operation)
    names: dict[tuple, set[str]] = defaultdict(set)
    for (principal, rtype, name, pattern, permission, host), o in ops.items():
        names[(rtype, pattern, permission, host, frozenset(o), principal)].add(name)
    principals: dict[tuple, set[str]] = defaultdict(set)
    for (rtype, pattern, permission, host, o, principal), n in names.items():
        principals[(rtype, pattern, permission, host, o, frozenset(n))].add(principal)
    out = []
    for (rtype, pattern, permission, host, o, n), who_set in sorted(principals.items(), key=lambda kv: (
            kv[0][0], kv[0][1], kv[0][2], kv[0][3], sorted(kv[0][4]), sorted(kv[0][5]), sorted(kv[1]))):
        allow = permission == "ALLOW"
        args = [f"--{action}"]
        for principal in sorted(who_set):
            args += ["--allow-principal" if allow else "--deny-principal", principal]
        args += ["--allow-host" if allow else "--deny-host", host]
        for op in sorted(o):
            args += ["--operation", CLI_OPERATION[op]]
        if rtype == "CLUSTER":
            args.append("--cluster")
        else:
            for name in sorted(n):
                args += [RESOURCE_OPTION[rtype], name]
        args += ["--resource-pattern-type", pattern.lower()]
        if action == "remove":
            args.append("--force")
        out.append(args)
    return out


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    desired = expand(p["acls"])

    def tool(args: list[str]) -> str:
        return run_tool(module, p["kafka_acls"], p["bootstrap_servers"], p["command_config"], args)

    current = parse_list(tool(["--list"]))
    add, remove = plan(current, desired, p["remove_undeclared"], p["managed_principals"])
    changed = bool(add or remove)
    if changed and not module.check_mode:
        # Each command is a JVM start of a few seconds; two at a time (removals before additions).
        with ThreadPoolExecutor(max_workers=2) as pool:
            for batch in (commands(remove, "remove"), commands(add, "add")):
                list(pool.map(tool, batch))
    result: dict[str, Any] = {"changed": changed, "added": [b.text() for b in add],
                              "removed": [b.text() for b in remove]}
    if module._diff:
        after = (current - set(remove)) | set(add)
        result["diff"] = {"before": "\n".join(sorted(b.text() for b in current)) + "\n",
                          "after": "\n".join(sorted(b.text() for b in after)) + "\n",
                          "before_header": "ACLs", "after_header": "ACLs"}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            bootstrap_servers=dict(type="str", required=True),
            command_config=dict(type="path", default=""),
            acls=dict(type="list", elements="dict", required=True),
            remove_undeclared=dict(type="bool", default=True),
            managed_principals=dict(type="list", elements="str", default=[]),
            kafka_acls=dict(type="path", default="/usr/local/bin/kafka-acls"),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except (AclError, KafkaCliError) as exc:
        module.fail_json(msg=str(exc), changed=False)


if __name__ == "__main__":
    main()
