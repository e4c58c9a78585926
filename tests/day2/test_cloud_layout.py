"""The cloud layout deploys (make test-day2, inventory lab-cloud): hosts known by name only, a
dedicated KRaft controller quorum, broker-only hosts, the example inventory's variable names with an
ansible-vault encrypted vault.yml. The cluster, the pipeline and the security promises hold on it."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from tests.lib.lab import CREDENTIALS, INVENTORY, TOOLS, ansible_env, inventory_groups, kafka_conf, redis_admin, ssh
from tests.lib.wire import plaintext_answer

pytestmark = pytest.mark.skipif(INVENTORY != "lab-cloud", reason="needs RASTRO_INVENTORY=lab-cloud (make test-day2)")


def quorum(host: str) -> str:
    return ssh(host, f"kafka-metadata-quorum {TOOLS} --bootstrap-controller {host}:9093 describe --status").stdout


def test_the_inventory_sets_no_address_and_every_name_resolves() -> None:
    listing = json.loads(subprocess.run(["ansible-inventory", "--list"], capture_output=True, text=True,
                                        check=True, env=ansible_env()).stdout)
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars and not [h for h, v in hostvars.items() if "ansible_host" in v], "an ansible_host is set"
    for host in hostvars:
        assert socket.gethostbyname(host).startswith("192.168.56."), host


def test_dedicated_controllers_form_the_quorum_and_brokers_are_not_in_it(admin: AdminClient) -> None:
    groups = inventory_groups()
    controllers, brokers = groups["kafka_controller"], groups["kafka_broker"]
    assert not set(controllers) & set(brokers), "a host is both controller and broker"
    out = quorum(controllers[0])
    voters = sorted(v["id"] for v in json.loads(re.search(r"CurrentVoters:\s+(\[.*\])", out).group(1)))
    leader = int(re.search(r"LeaderId:\s+(-?\d+)", out).group(1))
    assert voters == [1, 2, 3] and leader in voters, out
    for host in controllers[1:]:
        assert int(re.search(r"LeaderId:\s+(-?\d+)", quorum(host)).group(1)) == leader, host
    md = admin.list_topics(timeout=15)
    registered = {b.id: b.host for b in md.brokers.values()}
    assert sorted(registered) == [101, 102, 103], registered
    assert set(registered.values()) == set(brokers), "brokers must advertise their DNS names"
    for host in controllers:
        # A controller-only node has no client listener.
        assert ssh(host, "ss -ltn '( sport = :9092 )' | tail -n +2", check=False).stdout.strip() == "", host
        assert "process.roles=controller" in ssh(host, "grep -E '^process.roles=' /etc/kafka/server.properties").stdout


def test_the_pipeline_keeps_one_latest_record_per_driver() -> None:
    r = redis.Redis(**redis_admin())
    keys = list(r.scan_iter("driver:*", count=1000))
    assert keys, "no driver state in Redis: the producer → Kafka → Connect → Redis pipeline is not running"
    sample = keys[:50]
    before = {k: r.hget(k, "timestamp") for k in sample}
    time.sleep(10)
    after = {k: r.hget(k, "timestamp") for k in sample}
    assert any(after[k] != before[k] for k in sample), "driver state in Redis is not being updated"
    assert len(set(keys)) == len(keys)


def test_plaintext_and_anonymous_clients_are_refused() -> None:
    answer = plaintext_answer(9092, inventory_groups()["kafka_broker"][0])
    assert answer[4:8] != b"\x00\x00\x00\x01", "the client listener answered plaintext Kafka"
    conf = kafka_conf("producer")
    conf["sasl.password"] = "not-the-password"
    p = Producer({**conf, "message.timeout.ms": 8000})
    errors: list[str] = []
    p.produce("driver-locations", key=b"x", value=b"{}", on_delivery=lambda e, m: errors.append(str(e)))
    p.flush(15)
    assert errors and errors[0] != "None", "a wrong SCRAM password was accepted"
    with pytest.raises((redis.exceptions.AuthenticationError, redis.exceptions.ResponseError), match="WRONGPASS|invalid"):
        redis.Redis(**{**redis_admin(), "password": "not-the-password"}).ping()
    url = (CREDENTIALS / "connect-rest.properties").read_text().split("url=")[1].split()[0]
    ctx = ssl.create_default_context(cafile=str(CREDENTIALS / "ca.pem"))
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(url + "/connectors", context=ctx, timeout=10)
    assert denied.value.code == 401
