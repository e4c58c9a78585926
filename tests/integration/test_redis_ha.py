"""Redis without a single point of failure (issue 13): three servers, one primary and two replicas,
three Sentinels over TLS with ACL users, a configuration Sentinel cannot rewrite, and the on-purpose
rebuild of Redis from the compacted topic (playbooks/redis-rebuild.yml). The failover itself is a
chaos fault (test_chaos.py: redis-kill, redis-wipe)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from rastro_producer.contract import GEO_KEYS
from rastro_producer.kafka_config import redis_replicas, redis_sentinels
from rastro_producer.sender import Sender
from tests.lib.lab import BOOTSTRAP, CREDENTIALS, HOSTS, ansible_playbook, kafka_conf, primary_now, redis_admin, ssh, wait_until

CREDS = CREDENTIALS / "redis-admin.properties"


def sentinel(host: str, **over: object) -> redis.Redis:
    conn = {k: v for k, v in redis_admin().items() if k not in ("host", "port")}
    return redis.Redis(host=HOSTS[host], port=26379, decode_responses=True, socket_timeout=5, **{**conn, **over})


def test_one_primary_two_replicas_and_three_sentinels_that_agree() -> None:
    primary = primary_now()
    sentinels, name = redis_sentinels(CREDS)
    assert len(sentinels) == 3 and name == "rastro"
    for host in HOSTS:
        s = sentinel(host)
        assert s.sentinel_get_master_addr_by_name("rastro")[0] == HOSTS[primary], f"Sentinel on {host} disagrees"
        m = s.sentinel_master("rastro")
        assert (m["num-other-sentinels"], m["num-slaves"], m["quorum"]) == (2, 2, 2), m
        assert m["down-after-milliseconds"] == 2000 and m["failover-timeout"] == 4000, m
    roles = {}
    for conn in redis_replicas(CREDS):
        r = redis.Redis(**conn, decode_responses=True, socket_timeout=5)
        info = r.info("replication")
        roles[conn["host"]] = info["role"]
        if info["role"] == "master":
            assert info["connected_slaves"] == 2, info
            assert all(info[f"slave{i}"]["state"] == "online" for i in range(2)), info
            assert r.config_get("min-replicas-to-write") == {"min-replicas-to-write": "1"}
        else:
            assert info["master_host"] == HOSTS[primary] and info["master_link_status"] == "up", info
    assert sorted(roles.values()) == ["master", "slave", "slave"], roles


def test_sentinel_cannot_rewrite_the_role_s_configuration() -> None:
    # CONFIG REWRITE (what Sentinel sends after REPLICAOF) fails: redis.conf stays the role's.
    replica = next(h for h in HOSTS if h != primary_now())
    before = ssh(replica, "sha256sum /etc/redis/rastro/redis.conf").stdout
    conn = {**redis_admin(), "host": HOSTS[replica]}
    with pytest.raises(redis.ResponseError, match="Rewriting config file"):
        redis.Redis(**conn, socket_timeout=5).config_rewrite()
    assert ssh(replica, "sha256sum /etc/redis/rastro/redis.conf").stdout == before


def test_sentinels_speak_tls_and_know_their_users() -> None:
    plain = redis.Redis(host=HOSTS["kafka1"], port=26379, socket_timeout=5)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()
    with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="WRONGPASS|invalid"):
        sentinel("kafka1", password="not-the-password").ping()
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
        sentinel("kafka1", username=None, password=None).ping()
    # The sink's user finds the primary, and may not move it.
    connect_pw = (CREDENTIALS / "secrets" / "redis-connect").read_text().strip()
    client = sentinel("kafka1", username="connect", password=connect_pw)
    assert client.sentinel_get_master_addr_by_name("rastro")[0] == HOSTS[primary_now()]
    with pytest.raises(redis.ResponseError, match="no permissions"):
        client.execute_command("SENTINEL", "FAILOVER", "rastro")


def test_the_rebuild_playbook_brings_back_a_driver_redis_lost() -> None:
    # A driver that sent once and fell silent; Redis then loses it (as from a wipe, but only it).
    driver = f"rebuild-probe-{uuid.uuid4().hex[:6]}"
    update = {"driver_id": driver, "latitude": -23.5, "longitude": -46.6,
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "status": "offline"}
    sender = Sender(BOOTSTRAP, "driver-locations", extra=kafka_conf())
    sender.send(driver, update)
    assert sender.flush(30) == 0
    r = redis.Redis(**redis_admin(), decode_responses=True)
    wait_until(lambda: r.hget(f"driver:{driver}", "timestamp") == update["timestamp"], 60,
               what="the sink to write the probe driver")
    r.delete(f"driver:{driver}")
    r.zrem(GEO_KEYS["offline"], driver)

    before = sum(1 for _ in r.scan_iter(match="driver:*", count=10000))

    # With the flush: every driver key goes first, and the replay alone must bring every one back.
    started = time.time()
    run = ansible_playbook("playbooks/redis-rebuild.yml", "-e", "redis_rebuild_flush=true", timeout=900)
    assert run.returncode == 0, run.stdout[-4000:]
    assert "partitions live" in run.stdout and "records left to replay" in run.stdout, run.stdout[-3000:]
    after = sum(1 for _ in r.scan_iter(match="driver:*", count=10000))
    assert after >= before + 1, f"{before} drivers before the flush (the probe removed), {after} after the replay"
    got = r.hgetall(f"driver:{driver}")
    assert got.get("timestamp") == update["timestamp"], got
    assert r.geopos(GEO_KEYS["offline"], driver)[0] is not None
    markers = r.hgetall("drivers:replay")
    assert len(markers) == 12 and all(v.split()[0] == "live" for v in markers.values()), markers
    (CREDENTIALS.parent.parent / "artifacts").mkdir(exist_ok=True)
    (CREDENTIALS.parent.parent / "artifacts" / "redis-rebuild.json").write_text(
        json.dumps({"seconds": round(time.time() - started, 1)}) + "\n")
