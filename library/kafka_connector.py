#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Declarative Kafka Connect connectors for Ansible, through the Connect REST API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kafka_connector
short_description: Manage Kafka Connect connectors declaratively
description:
  - Creates or updates each declared connector only when its configuration differs from the
    declaration, and reports C(changed) only then.
  - Validates a configuration with the plugin's own validator before applying it, and fails
    naming every bad key.
  - Waits until each connector and all of its tasks are RUNNING; fails with the task's trace
    otherwise.
  - Restarts a declared connector's FAILED instance and FAILED tasks (only those) when
    I(restart_failed=true), so a task that died of an outage that is over does not block the run.
  - With I(restart_failed=true), also restarts a connector instance whose status stays
    C(UNASSIGNED) for I(unassigned_grace) seconds: after a worker is killed and the group
    rebalances, Connect can leave that status behind for good while the tasks run.
  - Removes connectors that are not declared only when I(remove_undeclared=true).
  - Supports check mode and diff mode.
options:
  connect_url:
    description: Base URL of any worker's REST API.
    type: str
    required: true
  url_username:
    description: User for the REST API's HTTP basic authentication.
    type: str
  url_password:
    description: Its password.
    type: str
  ca_file:
    description: CA bundle to check an C(https) URL's certificate against (default, the system's).
    type: path
  connectors:
    description: The connectors, each C({name, config}) or C({name, state: absent}).
    type: list
    elements: dict
    required: true
  remove_undeclared:
    description: Delete connectors that run but are not in I(connectors).
    type: bool
    default: false
  restart_failed:
    description: Restart FAILED connector instances and tasks of declared connectors before waiting.
    type: bool
    default: true
  unassigned_grace:
    description:
      - Seconds a connector instance may show C(UNASSIGNED) (a rebalance in progress) before it is
        restarted. Only with I(restart_failed=true).
    type: int
    default: 30
  wait_timeout:
    description: Seconds to wait for RUNNING.
    type: int
    default: 120
author: rastro
"""

EXAMPLES = r"""
- name: Redis sink
  kafka_connector:
    connect_url: http://192.168.56.11:8083
    connectors:
      - name: redis-sink
        config: "{{ lookup('template', 'files/connectors/redis-sink.json.j2') | from_json }}"
"""

RETURN = r"""
actions:
  description: What was (or would be) done.
  returned: always
  type: list
  elements: str
status:
  description: Connector and task states after the run.
  returned: always
  type: dict
"""

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from ansible.module_utils.basic import AnsibleModule


class ConnectError(Exception):
    """Shown to the user as is."""


class ConnectClient:
    def __init__(self, base_url: str, timeout: float = 30, username: Optional[str] = None,
                 password: Optional[str] = None, ca_file: Optional[str] = None) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.context = ssl.create_default_context(cafile=ca_file) if self.base.startswith("https") else None

    def request(self, method: str, path: str, body: Optional[dict] = None, ok404: bool = False) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=self.headers)
        # A worker answers 409 while the group rebalances; that is worth waiting out.
        for attempt in range(30):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
                    raw = resp.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and ok404:
                    return None
                detail = exc.read().decode(errors="replace")
                if exc.code == 409 and attempt < 29:
                    time.sleep(2)
                    continue
                raise ConnectError(f"{method} {path}: HTTP {exc.code}: {detail[:2000]}") from None
            except urllib.error.URLError as exc:
                raise ConnectError(f"cannot reach Kafka Connect at {self.base}: {exc.reason}") from None
        raise ConnectError(f"{method} {path}: still rebalancing")  # pragma: no cover

    def names(self) -> list[str]:
        return self.request("GET", "/connectors")

    def config(self, name: str) -> Optional[dict]:
        return self.request("GET", f"/connectors/{urllib.parse.quote(name)}/config", ok404=True)

    def status(self, name: str) -> Optional[dict]:
        return self.request("GET", f"/connectors/{urllib.parse.quote(name)}/status", ok404=True)

    def validate(self, config: dict) -> None:
        cls = config.get("connector.class", "")
        plugin = cls.rsplit(".", 1)[-1]
        result = self.request("PUT", f"/connector-plugins/{urllib.parse.quote(plugin)}/config/validate", config)
        if result and result.get("error_count", 0):
            errors = [f"{c['value']['name']}: {'; '.join(c['value']['errors'])} (got {c['value'].get('value')!r})"
                      for c in result["configs"] if c["value"].get("errors")]
            raise ConnectError(f"connector '{config.get('name')}' has {result['error_count']} invalid settings: "
                               + " | ".join(errors))

    def put(self, name: str, config: dict) -> None:
        self.request("PUT", f"/connectors/{urllib.parse.quote(name)}/config", config)

    def restart_failed(self, name: str) -> None:
        # onlyFailed keeps RUNNING tasks where they are (Connect 3.0+, KIP-745).
        self.request("POST", f"/connectors/{urllib.parse.quote(name)}/restart?includeTasks=true&onlyFailed=true")

    def restart_connector(self, name: str) -> None:
        # Without includeTasks: the connector instance only; its tasks keep running.
        self.request("POST", f"/connectors/{urllib.parse.quote(name)}/restart")

    def delete(self, name: str) -> None:
        self.request("DELETE", f"/connectors/{urllib.parse.quote(name)}", ok404=True)


def normalize(config: dict) -> dict[str, str]:
    """Connect stores every value as a string."""
    out = {}
    for k, v in config.items():
        out[str(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def plan(current: dict[str, Optional[dict]], declared: list[dict], remove_undeclared: bool
         ) -> tuple[list[tuple[str, str, Optional[dict]]], list[str]]:
    """[(action, name, config)] and human-readable actions: create, update, delete."""
    steps: list[tuple[str, str, Optional[dict]]] = []
    actions: list[str] = []
    names = set()
    for item in declared:
        name = item.get("name")
        if not name:
            raise ConnectError(f"connectors: every entry needs a name (got {item!r})")
        names.add(name)
        state = item.get("state", "present")
        if state not in ("present", "absent"):
            raise ConnectError(f"connectors[{name}].state: must be present or absent (got {state!r})")
        existing = current.get(name)
        if state == "absent":
            if existing is not None:
                steps.append(("delete", name, None))
                actions.append(f"delete connector {name}")
            continue
        if not isinstance(item.get("config"), dict) or "connector.class" not in item["config"]:
            raise ConnectError(f"connectors[{name}].config: a dict with connector.class is required")
        want = normalize(dict(item["config"], name=name))
        if existing is None:
            steps.append(("create", name, want))
            actions.append(f"create connector {name}")
        elif normalize(existing) != want:
            keys = sorted(k for k in set(want) | set(existing) if want.get(k) != existing.get(k))
            steps.append(("update", name, want))
            actions.append(f"update connector {name}: {', '.join(keys)}")
    if remove_undeclared:
        for name in sorted(set(current) - names):
            steps.append(("delete", name, None))
            actions.append(f"delete undeclared connector {name}")
    return steps, actions


def failed_parts(status: Optional[dict]) -> list[str]:
    """What a status shows FAILED, e.g. ['connector', 'task 2']."""
    if not status:
        return []
    parts = ["connector"] if status.get("connector", {}).get("state") == "FAILED" else []
    return parts + [f"task {t['id']}" for t in status.get("tasks", []) if t.get("state") == "FAILED"]


def unassigned(status: Optional[dict]) -> bool:
    return bool(status) and status.get("connector", {}).get("state") == "UNASSIGNED"


def stays_unassigned(client: ConnectClient, name: str, grace: float) -> bool:
    """For a connector instance just seen UNASSIGNED: True when it still is `grace` seconds on."""
    deadline = time.monotonic() + grace
    while True:
        time.sleep(1)
        if not unassigned(client.status(name)):
            return False
        if time.monotonic() >= deadline:
            return True


def wait_running(client: ConnectClient, name: str, timeout: float, settle: float = 0) -> dict:
    """Until the connector and all its tasks are RUNNING. A FAILED state seen within `settle` seconds
    (a restart just asked for, not yet visible in the status) is not yet a verdict."""
    started = time.monotonic()
    deadline = started + timeout
    last: Optional[dict] = None
    while time.monotonic() < deadline:
        last = client.status(name)
        if last and failed_parts(last) and time.monotonic() - started < settle:
            time.sleep(1)
            continue
        if last:
            failed = [t for t in last.get("tasks", []) if t.get("state") == "FAILED"]
            if last["connector"].get("state") == "FAILED":
                raise ConnectError(f"connector {name} FAILED on {last['connector'].get('worker_id')}:\n"
                                   f"{last['connector'].get('trace', '')[:4000]}")
            if failed:
                t = failed[0]
                raise ConnectError(f"connector {name} task {t['id']} FAILED on {t.get('worker_id')}:\n"
                                   f"{t.get('trace', '')[:4000]}")
            tasks = last.get("tasks", [])
            if last["connector"].get("state") == "RUNNING" and tasks and all(t["state"] == "RUNNING" for t in tasks):
                return last
        time.sleep(1)
    raise ConnectError(f"connector {name} not RUNNING with all tasks after {timeout:.0f}s: {json.dumps(last)}")


def redact(config: Optional[dict]) -> Optional[dict]:
    if config is None:
        return None
    return {k: ("********" if "password" in k.lower() and not str(v).startswith("${") else v) for k, v in config.items()}


def run(module: AnsibleModule) -> dict:
    p = module.params
    client = ConnectClient(p["connect_url"], username=p["url_username"], password=p["url_password"],
                           ca_file=p["ca_file"])
    current = {name: client.config(name) for name in client.names()}
    steps, actions = plan(current, p["connectors"], p["remove_undeclared"])
    restarts: list[str] = []
    unassigned_restarts: list[str] = []
    if p["restart_failed"]:
        # A connector being created or updated gets fresh tasks anyway.
        touched = {name for _, name, _ in steps}
        for item in p["connectors"]:
            name = item["name"]
            if item.get("state", "present") == "present" and name in current and name not in touched:
                status = client.status(name)
                parts = failed_parts(status)
                if parts:
                    restarts.append(name)
                    actions.append(f"restart failed {', '.join(parts)} of connector {name}")
                elif unassigned(status) and stays_unassigned(client, name, p["unassigned_grace"]):
                    unassigned_restarts.append(name)
                    actions.append(f"restart connector {name}, UNASSIGNED for {p['unassigned_grace']}s")
    if not module.check_mode:
        for action, name, config in steps:
            if action == "delete":
                client.delete(name)
            else:
                client.validate(config)
                client.put(name, config)
        for name in restarts:
            client.restart_failed(name)
        for name in unassigned_restarts:
            client.restart_connector(name)
    status = {}
    if not module.check_mode:
        for item in p["connectors"]:
            if item.get("state", "present") == "present":
                status[item["name"]] = wait_running(client, item["name"], p["wait_timeout"],
                                                    settle=15 if item["name"] in restarts else 0)
    result: dict[str, Any] = {"changed": bool(steps or restarts or unassigned_restarts), "actions": actions, "status": status}
    if module._diff:
        after = dict(current)
        for action, name, config in steps:
            if action == "delete":
                after.pop(name, None)
            else:
                after[name] = config
        result["diff"] = {"before": {k: redact(v) for k, v in sorted(current.items())},
                          "after": {k: redact(v) for k, v in sorted(after.items())}}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            connect_url=dict(type="str", required=True),
            url_username=dict(type="str"),
            url_password=dict(type="str", no_log=True),
            ca_file=dict(type="path"),
            connectors=dict(type="list", elements="dict", required=True),
            remove_undeclared=dict(type="bool", default=False),
            restart_failed=dict(type="bool", default=True),
            unassigned_grace=dict(type="int", default=30),
            wait_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except ConnectError as exc:
        module.fail_json(msg=str(exc), changed=False)


if __name__ == "__main__":
    main()
