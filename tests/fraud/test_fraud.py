"""The fraud decision service on the lab (make test-fraud): real Kafka, the deployed rastro-fraud on
every host of group `fraud`, the model `make train` deployed. Clients are the `fraud-client`
principal from credentials/<inventory>/kafka/fraud-client.properties."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.lib.lab import CREDENTIALS, REPO, ansible_playbook, fraud_health, inventory_groups, kafka_conf, newest_chaos_run, wait_until

sys.path.insert(0, str(REPO / "fraud"))
from rastro_fraud import feedback  # noqa: E402
from rastro_fraud.contract import format_timestamp  # noqa: E402

CLIENT = "fraud-client"
MODELS = REPO / "fraud" / "models"


def deployed_model() -> dict[str, Any]:
    """The metrics file of the model make train deployed (the one the hosts run)."""
    version = (MODELS / "deployed").read_text().strip()
    return json.loads((MODELS / f"fraud-{version}.json").read_text())


@pytest.fixture(scope="module", autouse=True)
def reference_data() -> None:
    """The model's world's sites and users in their topics (the features read the site's category)."""
    from rastro_fraud import model, stream
    meta = deployed_model()
    world = model.world_for(meta["seed"], meta["time_scale"], meta.get("users"), **meta.get("world_settings", {}))
    stream.publish_reference(conf(), world)
    WORLD_SITES[:] = [s.site_id for s in world.sites]


# The model's world's shops. A crafted case shops where nothing else in the tests does: a site's
# features compare it with its own recent past, which other tests' traffic would change.
WORLD_SITES: list[str] = []


def conf(**overrides: Any) -> dict[str, Any]:
    return kafka_conf(CLIENT, **overrides)


@pytest.fixture(scope="module")
def producer() -> Iterator[Producer]:
    p = Producer(conf(**{"acks": "all", "enable.idempotence": True, "linger.ms": 2}))
    yield p
    p.flush(30)


class Decisions:
    """fraud-decisions from now on, read committed, by transaction id."""

    def __init__(self) -> None:
        self.consumer = Consumer(conf(**{"group.id": f"fraud-client-test-{uuid.uuid4().hex[:8]}",
                                         "isolation.level": "read_committed", "auto.offset.reset": "latest",
                                         "enable.auto.commit": False}))
        md = self.consumer.list_topics("fraud-decisions", timeout=30).topics["fraud-decisions"]
        parts = [TopicPartition("fraud-decisions", p) for p in md.partitions]
        ends = [TopicPartition(tp.topic, tp.partition, self.consumer.get_watermark_offsets(tp, timeout=10)[1]) for tp in parts]
        self.consumer.assign(ends)
        self.seen: dict[str, list[dict[str, Any]]] = {}

    def wait_for(self, transaction_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.time() + timeout
        while transaction_id not in self.seen and time.time() < deadline:
            self.poll(1.0)
        assert transaction_id in self.seen, f"no decision for {transaction_id} within {timeout:.0f} s"
        return self.seen[transaction_id][0]

    def poll(self, timeout: float) -> None:
        for msg in self.consumer.consume(1000, timeout=timeout):
            if not msg.error():
                d = json.loads(msg.value())
                self.seen.setdefault(d["transaction_id"], []).append(d)


@pytest.fixture(scope="module")
def decisions() -> Iterator[Decisions]:
    d = Decisions()
    yield d
    d.consumer.close()


def transaction(card: str, **fields: Any) -> dict[str, Any]:
    tx = {"timestamp": format_timestamp(datetime.now(timezone.utc)), "transaction_id": f"test-{uuid.uuid4().hex}",
          "user_id": "u-test-1", "card_id": card, "site_id": "s-00001", "value": 20.0, "location_id": "PT-LIS",
          "country": "PT"}
    tx.update(fields)
    return tx


def send(producer: Producer, tx: dict[str, Any]) -> str:
    producer.produce("card-transactions", key=tx["card_id"].encode(), value=json.dumps(tx).encode())
    producer.flush(30)
    return tx["transaction_id"]


def test_every_instance_has_read_the_blocklists_and_decides() -> None:
    partitions = 0
    for host in inventory_groups()["fraud"]:
        body = fraud_health(host)
        assert body["status"] == "ok", (host, body)
        partitions += body["partitions"]
    # The group shares the 12 partitions of card-transactions: every one has an owner.
    assert partitions == 12


@pytest.mark.parametrize("kind,field", [("card", "card_id"), ("user", "user_id"), ("site", "site_id")])
def test_a_blocklisted_card_user_or_site_is_denied_at_once_and_a_cancellation_lets_it_through(
        producer: Producer, decisions: Decisions, kind: str, field: str) -> None:
    card = f"c-test-{kind}-{uuid.uuid4().hex[:6]}"
    key = {"card": card, "user": f"u-test-{uuid.uuid4().hex[:6]}", "site": f"s-test-{uuid.uuid4().hex[:6]}"}[kind]
    first = transaction(card, **{field: key})
    assert decisions.wait_for(send(producer, first))["outcome"] == "APPROVED"
    feedback.send(conf(), "blocklist", kind, key, reason="test: known fraud", analyst="pytest")
    started = time.time()

    def denied() -> bool:
        d = decisions.wait_for(send(producer, transaction(card, **{field: key})))
        return d["outcome"] == "DENIED_BLOCKLIST" and any(f"{kind} {key} blocklisted: test: known fraud" in r for r in d["reasons"])
    # Every instance applies the verdict from the blocklist topic; a few seconds at most.
    wait_until(denied, 20, interval=0.5, what=f"{kind} {key} denied")
    blocked_after = time.time() - started
    feedback.send(conf(), "cancel", kind, key, analyst="pytest")
    wait_until(lambda: decisions.wait_for(send(producer, transaction(card, **{field: key})))["outcome"] == "APPROVED",
               20, interval=0.5, what=f"{kind} {key} approved again after the cancellation")
    assert blocked_after < 20


def cloned_card(producer: Producer, decisions: Decisions, card: str) -> dict[str, Any]:
    """Small purchases at home an hour apart, then in person in Tokyo for a hundred times the usual
    amount: the decision of that last one."""
    import random
    home, away = random.Random(card).sample(WORLD_SITES, 2)
    hour = 3600.0 / deployed_model()["time_scale"]
    now = datetime.now(timezone.utc)
    for i in range(6):
        at = format_timestamp(now - timedelta(seconds=(6 - i) * hour))
        decisions.wait_for(send(producer, transaction(card, value=18.0 + i, timestamp=at, site_id=home)))
    return decisions.wait_for(send(producer, transaction(card, value=2400.0, location_id="JP-TYO", country="JP",
                                                         site_id=away)))


def test_a_transaction_the_model_flags_blocklists_its_card_and_the_next_one_is_denied(
        producer: Producer, decisions: Decisions) -> None:
    """A cloned card: small purchases at home an hour apart, then an hour later in person in Tokyo for
    a hundred times the usual amount (impossible travel and a large value at once). Times are the
    model's: its world runs time_scale times faster than the clock."""
    card = f"c-test-clone-{uuid.uuid4().hex[:6]}"
    flagged = cloned_card(producer, decisions, card)
    assert flagged["outcome"] == "REVIEW", flagged
    nxt = decisions.wait_for(send(producer, transaction(card)))
    assert nxt["outcome"] == "DENIED_BLOCKLIST" and any(f"card {card} blocklisted" in r for r in nxt["reasons"]), nxt
    feedback.send(conf(), "cancel", "card", card, analyst="pytest")
    wait_until(lambda: decisions.wait_for(send(producer, transaction(card)))["outcome"] != "DENIED_BLOCKLIST",
               20, interval=0.5, what=f"{card} let through after the cancellation")


@pytest.mark.parametrize("value,field", [
    ({"value": -3.0}, "value"),
    ({"country": "XX"}, "country"),
    ({"drop": "site_id"}, "site_id"),
])
def test_a_bad_transaction_goes_to_the_dlq_with_the_reason(producer: Producer, value: dict, field: str) -> None:
    tx = transaction(f"c-test-bad-{uuid.uuid4().hex[:6]}")
    if "drop" in value:
        del tx[value["drop"]]
    else:
        tx.update(value)
    consumer = Consumer(conf(**{"group.id": f"fraud-client-dlq-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                                "isolation.level": "read_committed"}))
    md = consumer.list_topics("card-transactions-dlq", timeout=30).topics["card-transactions-dlq"]
    consumer.assign([TopicPartition("card-transactions-dlq", p, consumer.get_watermark_offsets(
        TopicPartition("card-transactions-dlq", p), timeout=10)[1]) for p in md.partitions])
    send(producer, tx)
    found: Optional[dict[str, bytes]] = None
    deadline = time.time() + 30
    while found is None and time.time() < deadline:
        for msg in consumer.consume(100, timeout=1):
            if not msg.error() and json.loads(msg.value()).get("transaction_id") == tx["transaction_id"]:
                found = dict(msg.headers())
    consumer.close()
    assert found is not None, f"{tx['transaction_id']} not in the DLQ"
    assert found["rastro.error.field"].decode() == field
    assert found["rastro.error.reason"].decode().startswith(f"{field}: ")


def test_a_live_run_gets_exactly_one_decision_per_transaction_and_catches_every_pattern(decisions: Decisions) -> None:
    """The deployed model's world (a run neither training nor evaluation saw): 10 minutes of its
    history sent at once with past timestamps, so cards and sites have a past, then 2 minutes live
    with every fraud scenario ten times as frequent: every transaction decided exactly once, and an
    incident of each pattern caught in the live part."""
    labels = REPO / "artifacts" / "fraud" / "labels.jsonl"
    labels.parent.mkdir(parents=True, exist_ok=True)
    import subprocess
    client = CREDENTIALS / "kafka" / f"{CLIENT}.properties"
    done = subprocess.run([sys.executable, "-m", "rastro_fraud", "stream", "--client-config", str(client),
                           "--seconds", "120", "--history", "600", "--labels-out", str(labels), "--run", "2",
                           "--fraud-boost", "10"],
                          capture_output=True, text=True, timeout=600, cwd=REPO,
                          env={"PYTHONPATH": f"{REPO / 'fraud'}:{REPO / 'producer'}", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert result["acknowledged"] == len(rows) > 0 and result["failed"] == 0, result
    wanted = {r["transaction_id"] for r in rows}
    deadline = time.time() + 300
    while not wanted <= set(decisions.seen) and time.time() < deadline:
        decisions.poll(1.0)
    missing = wanted - set(decisions.seen)
    twice = [t for t in wanted if len(decisions.seen.get(t, [])) > 1]
    assert not missing, f"{len(missing)} transactions without a decision, e.g. {sorted(missing)[:3]}"
    assert not twice, f"{len(twice)} transactions decided twice, e.g. {twice[:3]}"
    incidents: dict[str, set[str]] = {}
    caught: dict[str, set[str]] = {}
    for r in rows:
        if r["fraud"] and r["live"]:
            incidents.setdefault(r["pattern"], set()).add(r["incident"])
            if decisions.seen[r["transaction_id"]][0]["outcome"] != "APPROVED":
                caught.setdefault(r["pattern"], set()).add(r["incident"])
    summary = {p: f"{len(caught.get(p, set()))}/{len(ids)}" for p, ids in incidents.items()}
    (REPO / "artifacts" / "fraud" / "live-run.json").write_text(json.dumps({"stream": result, "incidents_caught": summary}, indent=2))
    for pattern, ids in incidents.items():
        assert caught.get(pattern), f"no {pattern} incident caught of {len(ids)}: {summary}"


def test_a_decision_instance_sigkilled_under_load_leaves_none_undecided_and_none_decided_twice() -> None:
    """chaos.yml's fraud-kill: the driver pipeline at its chaos load and 200 transactions/s, the
    decision instance on the first fraud host SIGKILLed and held down 30 s, then started again."""
    target = inventory_groups()["fraud"][0]
    assert fraud_health(target)["partitions"] > 0, f"{target} decides nothing: killing it would prove nothing"
    started = time.time()
    proc = ansible_playbook("chaos.yml", "-e", "fault=fraud-kill", "-e", "duration=30", timeout=1800)
    run = newest_chaos_run("fraud-kill", started)
    assert run is not None, proc.stdout[-3000:]
    report = json.loads((run / "fraud.json").read_text())
    out = REPO / "artifacts" / "fraud"
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos-fraud-kill.json").write_text(json.dumps(report, indent=2) + "\n")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert report["fault"]["target"] == target and report["fault"]["injected"], report["fault"]
    assert report["acknowledged"] >= 0.9 * 200 * (30 + 40) and report["failed"] == 0, report
    assert report["undecided"] == 0, report
    assert report["decided_twice"] == 0, report
    drivers = json.loads((run / "report.json").read_text())
    assert drivers["lost"] == 0 and drivers["failed"] == 0, drivers
    wait_until(lambda: fraud_health(target)["status"] == "ok", 60, what=f"{target} deciding again")


def test_prometheus_scrapes_every_instance_and_every_fraud_panel_and_alert_metric_has_data(producer: Producer) -> None:
    """roles/fraud gave Prometheus its targets (file_sd); with transactions flowing, every panel of
    dashboards/fraud.json answers and every metric its rules and panels name exists."""
    import threading
    from tests.lib.prom import METRIC, api, query, targets
    hosts = set(inventory_groups()["fraud"])
    stop = threading.Event()

    def traffic() -> None:
        # 20 transactions/s on a few cards while Prometheus scrapes (rate() panels need two samples).
        i = 0
        while not stop.is_set():
            producer.produce("card-transactions", key=f"c-test-mon-{i % 50}".encode(),
                             value=json.dumps(transaction(f"c-test-mon-{i % 50}")).encode())
            producer.poll(0)
            i += 1
            time.sleep(0.05)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        def scraped() -> bool:
            up = {t["labels"]["instance"] for t in targets() if t["labels"]["job"] == "fraud" and t["health"] == "up"}
            return up == hosts
        wait_until(scraped, 60, interval=3, what=f"Prometheus scraping rastro-fraud on {sorted(hosts)}")
        wait_until(lambda: bool(query("sum(rate(rastro_fraud_decisions_total[1m])) > 0")), 90, interval=3,
                   what="a decision rate in Prometheus")
        wait_until(lambda: bool(query('sum(kafka_consumergroup_lag_sum{consumergroup="rastro-fraud"})')), 90,
                   interval=3, what="the lag exporter reporting the group rastro-fraud")
        known = set(api("label/__name__/values"))
        sources = [REPO / "dashboards/fraud.json", REPO / "roles/prometheus/files/rules/rastro-fraud-alerts.yml"]
        unknown = {f"{p.name}: {m}" for p in sources for m in METRIC.findall(p.read_text()) if m not in known}
        assert not unknown, sorted(unknown)
        empty, checked = [], 0
        for panel in json.loads((REPO / "dashboards/fraud.json").read_text())["panels"]:
            for target in panel["targets"]:
                checked += 1
                if not query(target["expr"]):
                    empty.append(f"{panel['title']}: {target['expr']}")
        assert checked >= 12
        assert not empty, "panels without data:\n" + "\n".join(empty)
        rules = [r for g in api("rules")["groups"] if g["name"] == "fraud" for r in g["rules"]]
        assert len(rules) == 6 and all(r["health"] == "ok" for r in rules), rules
    finally:
        stop.set()
        sender.join(5)


def test_fraud_playbook_run_again_changes_nothing() -> None:
    """playbooks/fraud.yml (the decision service and Prometheus's targets) is idempotent."""
    from tests.lib.lab import recap
    run = ansible_playbook("playbooks/fraud.yml", timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:]
    changed = {h: c["changed"] for h, c in recap(run.stdout).items() if c["changed"]}
    assert not changed, f"playbooks/fraud.yml run again changed something: {changed}\n{run.stdout[-4000:]}"


# -- the analysts' PostgreSQL ----------------------------------------------------------------------
DB_FILE = CREDENTIALS / "fraud-analyst-db.properties"


def rastro_fraud(*args: str) -> Any:
    import subprocess
    return subprocess.run([sys.executable, "-m", "rastro_fraud", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env={"PYTHONPATH": f"{REPO / 'fraud'}:{REPO / 'producer'}", "PATH": "/usr/bin:/bin"})


def test_the_database_has_a_primary_and_a_streaming_standby_and_refuses_plaintext() -> None:
    import psycopg2
    from rastro_fraud.store import database_config
    from tests.lib.lab import database_primary_now, ssh
    primary = database_primary_now()
    standbys = [h for h in inventory_groups()["postgresql"] if h != primary]
    assert standbys, "a standby is the database's second copy"
    conf = database_config(DB_FILE)
    with psycopg2.connect(**conf) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery(), inet_server_addr()::text, current_setting('ssl')")
        in_recovery, addr, ssl_on = cur.fetchone()
    assert not in_recovery and ssl_on == "on", (in_recovery, ssl_on)
    streaming = ssh(primary, "runuser -u postgres -- psql -Atc \"SELECT application_name || ' ' || state FROM pg_stat_replication\"")
    assert sorted(streaming.stdout.split("\n")[:-1]) == sorted(f"{h} streaming" for h in standbys), streaming.stdout
    plain = {**conf, "sslmode": "disable", "target_session_attrs": "any"}
    plain.pop("sslrootcert", None)
    with pytest.raises(psycopg2.OperationalError, match="no encryption|SSL off"):
        psycopg2.connect(**plain)
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(**{**conf, "password": "not-the-password"})


def test_a_flagged_transaction_reaches_the_analysts_database_and_a_review_cancels_its_card(
        producer: Producer, decisions: Decisions) -> None:
    """The recorder copies the REVIEW decision into PostgreSQL (primary and standby); `rastro-fraud
    suspicious` finds it by card, `rastro-fraud review ... cancel` records the verdict there and lets
    the card through again."""
    import psycopg2
    from rastro_fraud.store import database_config
    card = f"c-test-review-{uuid.uuid4().hex[:6]}"
    flagged = cloned_card(producer, decisions, card)
    assert flagged["outcome"] == "REVIEW", flagged
    found: list[dict[str, Any]] = []

    def recorded() -> bool:
        done = rastro_fraud("suspicious", "--database", str(DB_FILE), "--card", card)
        assert done.returncode == 0, done.stderr
        found[:] = [json.loads(line) for line in done.stdout.splitlines()]
        return bool(found)
    wait_until(recorded, 60, interval=1, what=f"{card}'s suspicious transaction in PostgreSQL")
    assert found[0]["transaction_id"] == flagged["transaction_id"] and found[0]["verdict"] is None, found
    # A standby: any database host but the one taking writes.
    from tests.lib.lab import HOSTS, database_primary_now
    primary_conf = database_config(DB_FILE)
    standby = next(h for h in primary_conf["host"].split(",") if h != HOSTS.get(database_primary_now()))
    conf = {**primary_conf, "host": standby, "port": primary_conf["port"].split(",")[0], "target_session_attrs": "any"}

    def on_standby() -> bool:
        with psycopg2.connect(**conf) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM suspicious_transactions WHERE card_id = %s", (card,))
            return cur.fetchone()[0] == 1
    wait_until(on_standby, 30, interval=1, what=f"{card}'s row on the standby {standby}")
    assert decisions.wait_for(send(producer, transaction(card)))["outcome"] == "DENIED_BLOCKLIST"
    done = rastro_fraud("review", flagged["transaction_id"], "cancel", "--database", str(DB_FILE),
                        "--client-config", str(CREDENTIALS / "kafka" / f"{CLIENT}.properties"), "--analyst", "pytest")
    assert done.returncode == 0, done.stderr
    again = rastro_fraud("suspicious", "--database", str(DB_FILE), "--card", card)
    row = json.loads(again.stdout.splitlines()[0])
    assert row["verdict"] == "cancelled" and row["verdict_by"] == "pytest", row
    wait_until(lambda: decisions.wait_for(send(producer, transaction(card)))["outcome"] != "DENIED_BLOCKLIST",
               20, interval=0.5, what=f"{card} let through after the review's cancellation")
    missing = rastro_fraud("review", "t-does-not-exist", "confirm", "--database", str(DB_FILE),
                           "--client-config", str(CREDENTIALS / "kafka" / f"{CLIENT}.properties"), "--analyst", "pytest")
    assert missing.returncode == 1 and "transaction_id" in missing.stderr and "t-does-not-exist" in missing.stderr
