"""library/kafka_connector.py on the lab: a task that FAILED during an outage that is over is restarted
by the next run (and only then reported changed), instead of blocking it. Between runs, the workers'
kafka-connect-watchdog does the same by itself."""

from __future__ import annotations

import json
import sys
import urllib.error
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "producer"))

from rastro_producer.sender import Sender  # noqa: E402

from tests.lib.connect import base_url, connector_status, rest  # noqa: E402
from tests.lib.lab import BOOTSTRAP, CREDENTIALS, HOSTS, ansible_playbook, kafka_conf, ssh, wait_until  # noqa: E402

# A throw-away Redis on another port of kafka2: the connector under test writes there, never into
# the pipeline's Redis, and "Redis is down" is simply "nothing listens on that port yet".
PROBE_PORT = 6390
PROBE_PASSWORD = "rastro-probe-pw"
# The host certificate roles/pki installs (docs/contracts.md).
TLS_DIR = "/etc/rastro/tls"
# The module logs in with the REST credentials site.yml left; the play reads them itself, so the
# password is in no file or argument of the test.
REST_PROPS = str(CREDENTIALS / "connect-rest.properties")
LOGIN = {"url_username": "{{ lookup('ansible.builtin.ini', 'user', type='properties', file='%s') }}" % REST_PROPS,
         "url_password": "{{ lookup('ansible.builtin.ini', 'password', type='properties', file='%s') }}" % REST_PROPS,
         "ca_file": str(CREDENTIALS / "ca.pem")}


def task_states(name: str) -> list[str]:
    try:
        return [t["state"] for t in connector_status(name).get("tasks", [])]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # just created: not in the status store yet
            return []
        raise


def apply(tmp_path: Path, name: str, config: dict) -> tuple[dict, str]:
    """Run the module once through ansible-playbook; returns its result and the output."""
    play = [{"name": "Apply the probe connector", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "Declare it", "kafka_connector": {
                 "connect_url": base_url(), **LOGIN, "wait_timeout": 90,
                 "connectors": [{"name": name, "config": config}]},
                 "register": "out"},
                 {"name": "Show it", "ansible.builtin.copy": {"content": "{{ out | to_json }}",
                                                               "dest": str(tmp_path / "result.json")}}]}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    run = ansible_playbook(str(tmp_path / "play.yml"), timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return json.loads((tmp_path / "result.json").read_text()), run.stdout


def watchdogs(action: str) -> None:
    for host in HOSTS:
        ssh(host, f"systemctl {action} kafka-connect-watchdog.timer")


@pytest.fixture()
def probe() -> Iterator[dict]:
    # The module's own restart is under test: the watchdogs would race it.
    watchdogs("stop")
    tag = uuid.uuid4().hex[:6]
    topic, name = f"restart-probe-{tag}", f"restart-probe-{tag}"
    admin = AdminClient(kafka_conf())
    admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])[topic].result(30)
    config = {
        "connector.class": "io.rastro.connect.redis.RedisSinkConnector", "tasks.max": "1", "topics": topic,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        "redis.host": HOSTS["kafka2"], "redis.port": str(PROBE_PORT), "redis.user": "connect",
        "redis.password": PROBE_PASSWORD, "redis.max.retries": "0", "redis.retry.backoff.ms": "100",
        "redis.tls.enabled": "true", "redis.tls.ca.file": f"{TLS_DIR}/ca.pem",
    }
    yield {"topic": topic, "name": name, "config": config}
    rest("DELETE", f"/connectors/{name}")
    admin.delete_topics([topic])[topic].result(30)
    ssh("kafka2", f"REDISCLI_AUTH={PROBE_PASSWORD} redis-cli -p {PROBE_PORT} -h {HOSTS['kafka2']} --user connect "
                  f"--tls --cacert {TLS_DIR}/ca.pem --no-auth-warning shutdown nosave", check=False)
    watchdogs("start")


def start_probe_redis() -> None:
    # Config on stdin: redis-server's command line cannot carry an ACL rule with spaces.
    # TLS like the real one, with kafka2's own certificate.
    conf = ["port 0", f"tls-port {PROBE_PORT}", f"tls-cert-file {TLS_DIR}/host.crt", f"tls-key-file {TLS_DIR}/host.key",
            f"tls-ca-cert-file {TLS_DIR}/ca.pem", "tls-auth-clients no",
            f"bind {HOSTS['kafka2']}", "daemonize yes", 'save ""', "appendonly no",
            "user default off", f"user connect on >{PROBE_PASSWORD} ~* &* +@all"]
    ssh("kafka2", "printf '%s\\n' " + " ".join(f"'{line}'" for line in conf) + " | redis-server -")
    wait_until(lambda: ssh("kafka2", f"ss -ltn | grep -q ':{PROBE_PORT} '", check=False).returncode == 0, 20,
               interval=0.5, what="the probe Redis to listen")


def fail_in_an_outage(probe: dict, driver: str, timestamp: str) -> dict:
    """One update in the probe topic, the probe connector declared while its Redis is "down" (nothing
    on the port) and with no retries: its task fails on its first batch. Returns the update."""
    sender = Sender(BOOTSTRAP, probe["topic"], extra=kafka_conf())
    update = {"driver_id": driver, "latitude": -23.55, "longitude": -46.63, "timestamp": timestamp,
              "status": "available"}
    sender.send(driver, update)
    assert sender.flush(30) == 0
    rest("PUT", f"/connectors/{probe['name']}/config", probe["config"])
    wait_until(lambda: task_states(probe["name"]) == ["FAILED"],
               120, what="the probe task to fail while its Redis is down")
    return update


def probe_redis() -> redis.Redis:
    return redis.Redis(host=HOSTS["kafka2"], port=PROBE_PORT, username="connect", password=PROBE_PASSWORD,
                       ssl=True, ssl_ca_certs=str(CREDENTIALS / "ca.pem"), decode_responses=True)


def test_a_task_failed_in_an_outage_is_restarted_by_the_next_run(probe: dict, tmp_path: Path) -> None:
    update = fail_in_an_outage(probe, "probe-1", "2026-11-22T10:30:45.123Z")

    # The outage ends.
    start_probe_redis()

    result, out = apply(tmp_path, probe["name"], probe["config"])
    assert result["changed"] is True, out
    assert result["actions"] == [f"restart failed task 0 of connector {probe['name']}"], result
    assert [t["state"] for t in result["status"][probe["name"]]["tasks"]] == ["RUNNING"]
    r = probe_redis()
    wait_until(lambda: r.hget("driver:probe-1", "timestamp") == update["timestamp"], 60,
               what="the restarted task to write the update")
    got = r.hgetall("driver:probe-1")
    assert (got["driver_id"], got["status"]) == ("probe-1", "available"), got
    assert (float(got["latitude"]), float(got["longitude"])) == (update["latitude"], update["longitude"]), got

    # Nothing failed any more: the next run changes nothing.
    again, out = apply(tmp_path, probe["name"], probe["config"])
    assert again["changed"] is False and again["actions"] == [], out


def test_the_watchdog_restarts_a_task_failed_in_an_outage_by_itself(probe: dict) -> None:
    watchdogs("start")
    update = fail_in_an_outage(probe, "probe-2", "2026-11-22T10:31:45.123Z")
    start_probe_redis()
    # No Ansible run: the watchdog sees FAILED twice, 30 s apart, and restarts the task.
    wait_until(lambda: task_states(probe["name"]) == ["RUNNING"], 150, interval=3,
               what="the watchdog to restart the failed task")
    r = probe_redis()
    wait_until(lambda: r.hget("driver:probe-2", "timestamp") == update["timestamp"], 60,
               what="the restarted task to write the update")
    logs = "".join(ssh(h, "journalctl -u kafka-connect-watchdog --since '-10 min' --no-pager").stdout for h in HOSTS)
    assert f"connector {probe['name']}: failed tasks restarted" in logs, logs[-2000:]
