"""The analysts' PostgreSQL loses its primary under load (make test-fraud, after test_fraud.py): the
fraud stream runs, the primary's server is SIGKILLed, playbooks/postgresql-failover.yml promotes a
standby, fences the old primary and rebuilds it as a standby. Every suspicious transaction of the
run ends up in the database once, and playbooks/fraud.yml run afterwards keeps the new primary and
changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from tests.lib.lab import (CREDENTIALS, REPO, ansible_playbook, database_primary_now, inventory_groups, kafka_conf, recap, ssh,
                           wait_until)

sys.path.insert(0, str(REPO / "fraud"))
DB_FILE = CREDENTIALS / "fraud-analyst-db.properties"
FENCE = "/var/lib/postgresql/15/main/rastro-fenced"
OUT = REPO / "artifacts" / "fraud"


def database() -> dict[str, str]:
    from rastro_fraud.store import database_config
    return database_config(DB_FILE)


def end_offsets() -> dict[int, int]:
    consumer = Consumer(kafka_conf("fraud-client", **{"group.id": "fraud-client-test-failover"}))
    try:
        md = consumer.list_topics("fraud-suspicious", timeout=30).topics["fraud-suspicious"]
        return {p: consumer.get_watermark_offsets(TopicPartition("fraud-suspicious", p), timeout=10)[1]
                for p in md.partitions}
    finally:
        consumer.close()


def suspicious_between(start: dict[int, int]) -> list[tuple[str, float]]:
    """(transaction id, append time) of every fraud-suspicious record from `start` to the end now."""
    consumer = Consumer(kafka_conf("fraud-client", **{"group.id": "fraud-client-test-failover",
                                                      "isolation.level": "read_committed",
                                                      "enable.auto.commit": False}))
    try:
        ends = end_offsets()
        consumer.assign([TopicPartition("fraud-suspicious", p, o) for p, o in start.items() if o < ends[p]])
        found: list[tuple[str, float]] = []
        left = {p for p, o in start.items() if o < ends[p]}
        deadline = time.time() + 60
        while left and time.time() < deadline:
            for m in consumer.consume(500, timeout=1.0):
                if m.error():
                    continue
                if m.offset() < ends[m.partition()]:
                    found.append((json.loads(m.value())["transaction_id"], m.timestamp()[1] / 1000))
            # By position, not by the last record's offset: a transaction's commit marker ends the partition.
            for tp in consumer.position([TopicPartition("fraud-suspicious", p) for p in left]):
                if tp.offset >= ends[tp.partition]:
                    left.discard(tp.partition)
        assert not left, f"fraud-suspicious partitions {sorted(left)} not read to their end"
        return found
    finally:
        consumer.close()


def test_a_sigkilled_primary_is_replaced_by_a_standby_and_no_suspicious_transaction_is_lost() -> None:
    import psycopg2
    hosts = inventory_groups()["postgresql"]
    old = database_primary_now()
    assert len(hosts) >= 2, hosts
    start = end_offsets()
    stream: dict[str, Any] = {}
    # A run of the world no earlier drill sent: one already sent has its cards on the blocklist
    # (denied at once, never suspicious again).
    run_of_world = 4 + int(time.time()) // 60 % 100000

    def send() -> None:
        # 5 minutes of the world's history at once (the cards' past), then 150 s live.
        stream["proc"] = subprocess.run(
            [sys.executable, "-m", "rastro_fraud", "stream", "--client-config",
             str(CREDENTIALS / "kafka" / "fraud-client.properties"), "--history", "300", "--seconds", "150",
             "--run", str(run_of_world), "--fraud-boost", "10"],
            capture_output=True, text=True, timeout=600, cwd=REPO,
            env={"PYTHONPATH": f"{REPO / 'fraud'}:{REPO / 'producer'}", "PATH": "/usr/bin:/bin"})
    sender = threading.Thread(target=send)
    sender.start()
    # The cards need a past before the model flags any: kill once the stream yields suspicious ones.
    wait_until(lambda: sum(end_offsets().values()) > sum(start.values()), 240, interval=2,
               what="the stream's first suspicious transaction")
    killed = time.time()
    # Every process of the server at once (systemctl kill cannot signal them all in a lab container).
    ssh(old, "pkill -KILL -u postgres && sleep 1 && ! pg_isready -q -h 127.0.0.1")
    time.sleep(10)  # the recorder finds no primary meanwhile; suspicious records wait in Kafka
    began = time.time()
    writable: list[float] = []  # when a client that knows every host could write again
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set() and not writable:
            try:
                if database_primary_now() != old:
                    writable.append(time.time())
            except psycopg2.OperationalError:
                pass
            watching.wait(1.0)
    watcher = threading.Thread(target=watch)
    watcher.start()
    run = ansible_playbook("playbooks/postgresql-failover.yml", timeout=900)
    promoted_by = time.time()
    watching.set()
    watcher.join(30)
    assert run.returncode == 0, run.stdout[-5000:]
    sender.join(600)
    assert stream["proc"].returncode == 0, stream["proc"].stderr[-2000:]
    new = database_primary_now()
    assert new != old, f"the primary is still {old}"
    assert writable, "the watcher never saw the new primary take writes during the playbook"
    suspicious = suspicious_between(start)
    during = [t for t, at in suspicious if killed <= at <= writable[0]]
    assert during, "no suspicious transaction was decided while the database had no primary: the drill proved nothing"
    wanted = sorted({t for t, _ in suspicious})

    def recorded() -> bool:
        with psycopg2.connect(**database()) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM suspicious_transactions WHERE transaction_id = ANY(%s)", (wanted,))
            return cur.fetchone()[0] == len(wanted)
    wait_until(recorded, 120, interval=2, what=f"all {len(wanted)} suspicious transactions of the run in PostgreSQL on {new}")
    recovered = time.time()
    # The old primary: unfenced, rebuilt, streaming from the new one like every other standby.
    assert ssh(old, f"test ! -e {FENCE}", check=False).returncode == 0, f"{old} still fenced"
    streaming = ssh(new, "runuser -u postgres -- psql -XAtc \"SELECT application_name || ' ' || state FROM pg_stat_replication\"")
    assert sorted(streaming.stdout.split()[::2]) == sorted(h for h in hosts if h != new), streaming.stdout
    assert set(streaming.stdout.split()[1::2]) == {"streaming"}, streaming.stdout
    report = {"old_primary": old, "new_primary": new, "suspicious_in_run": len(wanted),
              "suspicious_while_no_primary": len(during), "failover_playbook_s": round(promoted_by - began, 1),
              "kill_to_writable_s": round(writable[0] - killed, 1) if writable else None,
              "kill_to_promoted_and_rebuilt_s": round(promoted_by - killed, 1),
              "kill_to_all_recorded_s": round(recovered - killed, 1), "stream": json.loads(
                  stream["proc"].stdout.strip().splitlines()[-1])}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "postgresql-failover.json").write_text(json.dumps(report, indent=2) + "\n")
    # The next deploy keeps the promoted primary and changes nothing.
    again = ansible_playbook("playbooks/fraud.yml", timeout=1200)
    assert again.returncode == 0, again.stdout[-4000:]
    changed = {h: c["changed"] for h, c in recap(again.stdout).items() if c["changed"]}
    assert not changed, f"playbooks/fraud.yml after the failover changed something: {changed}\n{again.stdout[-4000:]}"
    assert database_primary_now() == new
