# -*- coding: utf-8 -*-
# Copyright: rastro contributors; Apache-2.0
"""Runs Kafka's own command-line tools for rastro's modules.

Debian's confluent-kafka (1.7) has no ACL or SCRAM admin calls, so kafka_acl and kafka_scram_user
drive kafka-acls and kafka-configs, authenticated by a --command-config file (on the lab: the node's
own certificate on the internal listener), so no secret is ever an argument."""

from __future__ import annotations

from typing import Any, Sequence


class KafkaCliError(Exception):
    """A tool that exited non-zero; the message names the command (never a secret) and its output."""


def run_tool(module: Any, tool: str, bootstrap_servers: str, command_config: str, args: Sequence[str]) -> str:
    """stdout of `tool --bootstrap-server ... [--command-config ...] args`, or KafkaCliError."""
    cmd = [tool, "--bootstrap-server", bootstrap_servers]
    if command_config:
        cmd += ["--command-config", command_config]
    cmd += list(args)
    rc, out, err = module.run_command(cmd)
    if rc != 0:
        tail = "\n".join((out + err).strip().splitlines()[-15:])
        raise KafkaCliError(f"{' '.join(cmd[:1] + list(args)[:4])} ... exited {rc}: {tail}")
    return out
