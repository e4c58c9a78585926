#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Declarative Kafka SCRAM users for Ansible (Kafka's kafka-configs tool)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_scram_user
short_description: Declare the SCRAM users of a Kafka cluster
description:
  - Creates each declared user's SCRAM credential, or replaces it when its mechanism, iteration
    count or password differs; with I(remove_undeclared), deletes the credentials of users that are
    not declared (except I(keep)).
  - Kafka never returns a password; whether a user's password is current is decided by logging in
    with it over I(login_bootstrap_servers). C(changed) is reported only when a credential is written
    or deleted.
  - Never prints a password, not in the diff (which shows user, mechanism and iterations), not in
    arguments (the tool reads the credential from a temporary file readable only by its owner).
  - Supports check mode and diff mode.
requirements: [Kafka's command-line tools and confluent-kafka on the host]
options:
  bootstrap_servers:
    description: Brokers for kafka-configs (e.g. the internal listener, with I(command_config)).
    type: str
    required: true
  command_config:
    description: Client properties file for kafka-configs.
    type: path
    default: ""
  users:
    description: The declared users.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: User name (the principal is C(User:<name>)).
        type: str
        required: true
      password:
        description: The password.
        type: str
        required: true
        no_log: true
  mechanism:
    description: SCRAM mechanism of every declared credential.
    type: str
    choices: [SCRAM-SHA-256, SCRAM-SHA-512]
    default: SCRAM-SHA-512
  iterations:
    description: Iteration count of every declared credential.
    type: int
    default: 8192
  login_bootstrap_servers:
    description: The SASL_SSL listener used to test whether a declared password is current.
    type: str
    required: true
  login_ca_file:
    description: CA bundle for that listener.
    type: path
    required: true
  remove_undeclared:
    description: Delete the SCRAM credentials of users that are not declared.
    type: bool
    default: true
  keep:
    description: Users never deleted, declared or not.
    type: list
    elements: str
    default: []
  kafka_configs:
    description: Path of the kafka-configs wrapper.
    type: path
    default: /usr/local/bin/kafka-configs
  timeout:
    description: Seconds to wait for one login attempt.
    type: int
    default: 15
author: rastro
"""

EXAMPLES = r"""
- name: Kafka users
  kafka_scram_user:
    bootstrap_servers: 192.168.56.11:9095
    command_config: /etc/kafka/tools.properties
    login_bootstrap_servers: 192.168.56.11:9092
    login_ca_file: /etc/rastro/tls/ca.pem
    users:
      - {name: producer, password: "{{ vault_kafka_producer_password }}"}
  no_log: true
"""

RETURN = r"""
users:
  description: The SCRAM users after the run (name → mechanism → iterations); no passwords.
  returned: always
  type: dict
actions:
  description: What was (or would be) done.
  returned: always
  type: list
  elements: str
"""

import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_cli import KafkaCliError, run_tool

try:
    from confluent_kafka import KafkaError, KafkaException, Producer
    HAS_KAFKA = True
except ImportError:  # reported through fail_json so the user sees what to install
    HAS_KAFKA = False

DESCRIBE_LINE = re.compile(r"SCRAM credential configs for user-principal '(.+?)' are (.*)$")
NAME = re.compile(r"^[A-Za-z0-9._@-]+$")


class ScramError(Exception):
    """A declaration that cannot be applied; the message is shown to the user as is."""


def parse_describe(output: str) -> dict[str, dict[str, int]]:
    """`kafka-configs --describe --entity-type users` → user → mechanism → iterations."""
    users: dict[str, dict[str, int]] = {}
    for line in output.splitlines():
        m = DESCRIBE_LINE.search(line.strip())
        if not m:
            continue
        creds = users.setdefault(m.group(1), {})
        for part in m.group(2).split(", "):
            mech, _, it = part.partition("=iterations=")
            if mech.startswith("SCRAM-") and it.strip().isdigit():
                creds[mech] = int(it)
    return users


def validate(users: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for i, u in enumerate(users):
        name = u.get("name") or ""
        if not NAME.match(name):
            raise ScramError(f"users[{i}].name must be letters, digits, '.', '_', '@' or '-' (got {name!r})")
        if name in seen:
            raise ScramError(f"users[{i}].name {name!r} is declared twice")
        seen.add(name)
        password = u.get("password") or ""
        if len(password) < 8:
            raise ScramError(f"users[{i}].password of {name!r} must have at least 8 characters")
        if any(c in password for c in ',=[]"\\') or any(c.isspace() for c in password):
            # kafka-configs reads the credential as iterations=N,password=P.
            raise ScramError(f"users[{i}].password of {name!r} must not contain , = [ ] \" \\ or whitespace")


def plan(current: dict[str, dict[str, int]], users: list[dict[str, Any]], mechanism: str, iterations: int,
         password_ok: Callable[[str, str], bool], remove_undeclared: bool, keep: list[str]
         ) -> tuple[list[str], list[str], list[str]]:
    """(users to write, users to delete, actions). password_ok is asked only where the credential's
    shape already matches, so a new user costs no login attempt."""
    write, actions = [], []
    for u in users:
        have = current.get(u["name"], {})
        if mechanism not in have:
            write.append(u["name"])
            actions.append(f"create {mechanism} credential of {u['name']}")
        elif have[mechanism] != iterations:
            write.append(u["name"])
            actions.append(f"rewrite {mechanism} credential of {u['name']}: iterations {have[mechanism]} -> {iterations}")
        elif not password_ok(u["name"], u["password"]):
            write.append(u["name"])
            actions.append(f"rewrite {mechanism} credential of {u['name']}: password changed")
    declared = {u["name"] for u in users}
    delete = sorted(n for n in current if remove_undeclared and n not in declared and n not in keep)
    actions += [f"delete SCRAM credentials of {n}" for n in delete]
    return write, delete, actions


def login_checker(bootstrap: str, ca_file: str, mechanism: str, timeout: int) -> Callable[[str, str], bool]:
    def ok(name: str, password: str) -> bool:
        auth_errors: list[str] = []

        def on_error(err: Any) -> None:
            if err.code() == KafkaError._AUTHENTICATION:
                auth_errors.append(err.str())

        # A producer, not an AdminClient: its poll() serves error_cb, which is where librdkafka reports
        # a refused login (list_topics itself only says "transport failure").
        client = Producer({"bootstrap.servers": bootstrap, "security.protocol": "SASL_SSL",
                           "sasl.mechanism": mechanism, "sasl.username": name, "sasl.password": password,
                           "ssl.ca.location": ca_file, "error_cb": on_error})
        try:
            client.list_topics(timeout=timeout)
            return True
        except KafkaException as exc:
            client.poll(0)
            if auth_errors or exc.args[0].code() == KafkaError._AUTHENTICATION:
                return False
            raise ScramError(f"cannot reach {bootstrap} to check the password of {name}: {exc.args[0].str()}") from None
    return ok


def run(module: AnsibleModule) -> dict[str, Any]:
    p = module.params
    validate(p["users"])

    def tool(args: list[str]) -> str:
        return run_tool(module, p["kafka_configs"], p["bootstrap_servers"], p["command_config"], args)

    current = parse_describe(tool(["--describe", "--entity-type", "users"]))
    checker = login_checker(p["login_bootstrap_servers"], p["login_ca_file"], p["mechanism"], p["timeout"])
    write, delete, actions = plan(current, p["users"], p["mechanism"], p["iterations"], checker,
                                  p["remove_undeclared"], p["keep"])
    after = {n: dict(m) for n, m in current.items() if n not in delete}
    for n in write:
        after.setdefault(n, {})[p["mechanism"]] = p["iterations"]
    if (write or delete) and not module.check_mode:
        passwords = {u["name"]: u["password"] for u in p["users"]}

        def write_one(name: str) -> None:
            fd, path = tempfile.mkstemp(prefix=".scram-", suffix=".properties")
            try:
                with os.fdopen(fd, "w") as fh:  # mkstemp: mode 0600, owner only
                    # The file form takes no brackets: KEY=iterations=N,password=P.
                    fh.write(f"{p['mechanism']}=iterations={p['iterations']},password={passwords[name]}\n")
                tool(["--alter", "--entity-type", "users", "--entity-name", name, "--add-config-file", path])
            finally:
                os.unlink(path)

        def delete_one(name: str) -> None:
            tool(["--alter", "--entity-type", "users", "--entity-name", name,
                  "--delete-config", ",".join(sorted(current[name]))])

        # Each kafka-configs run is a JVM start of a few seconds: two at a time.
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(write_one, write))
            list(pool.map(delete_one, delete))
    result: dict[str, Any] = {"changed": bool(write or delete), "actions": actions, "users": after}
    if module._diff:
        result["diff"] = {"before": {"users": current}, "after": {"users": after},
                          "before_header": "SCRAM users", "after_header": "SCRAM users"}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            bootstrap_servers=dict(type="str", required=True),
            command_config=dict(type="path", default=""),
            users=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
            )),
            mechanism=dict(type="str", default="SCRAM-SHA-512", choices=["SCRAM-SHA-256", "SCRAM-SHA-512"]),
            iterations=dict(type="int", default=8192),
            login_bootstrap_servers=dict(type="str", required=True),
            login_ca_file=dict(type="path", required=True),
            remove_undeclared=dict(type="bool", default=True),
            keep=dict(type="list", elements="str", default=[]),
            kafka_configs=dict(type="path", default="/usr/local/bin/kafka-configs"),
            timeout=dict(type="int", default=15),
        ),
        supports_check_mode=True,
    )
    if not HAS_KAFKA:
        module.fail_json(msg="kafka_scram_user needs the confluent-kafka Python library on the host that runs it "
                             "(Debian: python3-confluent-kafka; pip: confluent-kafka)")
    try:
        module.exit_json(**run(module))
    except (ScramError, KafkaCliError) as exc:
        module.fail_json(msg=str(exc), changed=False)


if __name__ == "__main__":
    main()
