"""The fraud platform's pure parts: the transaction contract and its schema, the seeded generator,
the features, the decision logic, and training with its deploy-only-if-not-worse rule."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from rastro_fraud import contract, features, model
from rastro_fraud.decision import APPROVED, DENIED_BLOCKLIST, REVIEW, Blocklists, Decider, SiteRule
from rastro_fraud.generator import CITY, PATTERNS, Settings, World, contract_fields, distance_km

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "fraud" / "schema" / "transaction.schema.json").read_text())
GOOD = {"timestamp": "2026-12-06T10:30:45.123Z", "transaction_id": "t-1", "user_id": "u-000001",
        "card_id": "c-0000001", "site_id": "s-00001", "value": 12.5, "location_id": "PT-LIS", "country": "PT"}


def small_world(seed: int = 3, **kw: float) -> World:
    return World(seed, Settings(users=300, sites=120, **kw))


# -- contract ------------------------------------------------------------------------------------
def test_a_good_transaction_passes_both_the_code_and_the_schema() -> None:
    assert contract.validate(GOOD) == GOOD
    jsonschema.validate(GOOD, SCHEMA)


@pytest.mark.parametrize("change,field,value_shown", [
    ({"value": -5}, "value", "-5"),
    ({"value": 0}, "value", "0"),
    ({"value": True}, "value", "True"),
    ({"value": float("nan")}, "value", "nan"),
    ({"value": 2_000_000}, "value", "2000000"),
    ({"country": "XX"}, "country", "'XX'"),
    ({"country": "pt"}, "country", "'pt'"),
    ({"timestamp": "2026-02-30T10:00:00.000Z"}, "timestamp", "2026-02-30"),
    ({"timestamp": "yesterday"}, "timestamp", "'yesterday'"),
    ({"card_id": "card 1"}, "card_id", "'card 1'"),
    ({"merchant": "x"}, "merchant", "'x'"),
])
def test_a_bad_transaction_is_refused_naming_the_field_and_the_value(change: dict, field: str, value_shown: str) -> None:
    bad = {**GOOD, **change}
    with pytest.raises(contract.TransactionError) as exc:
        contract.validate(bad)
    assert exc.value.field == field and str(exc.value).startswith(f"{field}: ") and value_shown in str(exc.value)
    # The schema (for other producers) refuses the same transaction.
    if not (isinstance(bad.get("value"), float) and math.isnan(bad["value"])) and field != "timestamp" or value_shown == "'yesterday'":
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


def test_a_missing_field_is_named() -> None:
    bad = dict(GOOD)
    del bad["site_id"]
    with pytest.raises(contract.TransactionError, match=r"^site_id: is required"):
        contract.validate(bad)


def test_the_schema_lists_the_same_countries_as_the_code() -> None:
    assert set(SCHEMA["properties"]["country"]["enum"]) == contract.countries()
    assert len(contract.countries()) == 249 and {"PT", "US", "NG"} <= contract.countries()


# -- generator -----------------------------------------------------------------------------------
def take(world: World, n: int, **kw: float) -> list[dict]:
    out = []
    for tx in world.transactions(**kw):
        out.append(tx)
        if len(out) == n:
            break
    return out


def test_the_generator_is_deterministic_and_seeded() -> None:
    a, b, c = take(small_world(3), 2000), take(small_world(3), 2000), take(small_world(4), 2000)
    assert a == b
    assert a != c
    assert [u.email for u in small_world(3).users] == [u.email for u in small_world(3).users]


def test_generated_transactions_meet_the_contract_in_time_order_with_every_pattern() -> None:
    world = small_world(5, compromised_sites=3, large_values=3, compromised_cards=3, impossible_travels=3)
    txs = list(world.transactions(days=6))
    stamps = [contract.epoch(t["timestamp"]) for t in txs]
    assert stamps == sorted(stamps)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for tx in txs:
        contract.validate(contract_fields(tx))
    for tx in txs[::5]:
        validator.validate(contract_fields(tx))
    assert len({t["transaction_id"] for t in txs}) == len(txs)
    seen = {t["pattern"] for t in txs if t["fraud"]}
    assert seen == set(PATTERNS), seen
    assert all(t["incident"] for t in txs if t["fraud"]) and not any(t["incident"] for t in txs if not t["fraud"])


def test_genuine_customers_never_travel_faster_than_a_plane_and_clones_do() -> None:
    world = small_world(6, impossible_travels=2.0)
    last: dict[str, tuple[float, str]] = {}
    last_fraud: dict[str, bool] = {}
    fastest_genuine, clones = 0.0, []
    for tx in world.transactions(days=10):
        at = contract.epoch(tx["timestamp"])
        prev = last.get(tx["card_id"])
        if prev and prev[1] != tx["location_id"]:
            hours = max((at - prev[0]) / 3600, 1e-6)
            speed = distance_km(prev[1], tx["location_id"]) / hours
            if tx["pattern"] == "impossible_travel":
                clones.append(speed)
            elif not tx["fraud"] and not last_fraud.get(tx["card_id"]):
                fastest_genuine = max(fastest_genuine, speed)
        last[tx["card_id"]] = (at, tx["location_id"])
        last_fraud[tx["card_id"]] = tx["fraud"]
    assert fastest_genuine <= 800, fastest_genuine
    assert clones and max(clones) > 1000


def test_reference_data_covers_every_id_the_transactions_use() -> None:
    world = small_world(7)
    ref: dict[str, set[str]] = {"users": set(), "sites": set(), "cards": set()}
    for kind, record in world.reference():
        ref[kind].add(record[{"users": "user_id", "sites": "site_id", "cards": "card_id"}[kind]])
    for tx in take(world, 3000):
        assert tx["user_id"] in ref["users"] and tx["site_id"] in ref["sites"] and tx["card_id"] in ref["cards"]
        assert CITY[tx["location_id"]][1] == tx["country"]


# -- features ------------------------------------------------------------------------------------
def test_features_count_a_cards_recent_transactions_and_its_speed() -> None:
    f = features.Features({"s-1": {"category": "travel", "online": True}})
    i = {n: k for k, n in enumerate(features.NAMES)}
    first = f.vector({**GOOD, "site_id": "s-1"})
    assert first[i["card_seen"]] == 0 and math.isnan(first[i["value_ratio"]]) and first[i["site_online"]] == 1
    second = f.vector({**GOOD, "timestamp": "2026-12-06T10:35:45.123Z", "value": 125.0,
                       "location_id": "JP-TYO", "country": "JP"})
    assert second[i["card_tx_10m"]] == 1 and second[i["value_ratio"]] == pytest.approx(10)
    assert second[i["minutes_since_prev"]] == pytest.approx(5)
    assert second[i["speed_kmh"]] > 100_000 / 10 and second[i["country_changed"]] == 1 and second[i["foreign"]] == 1
    third = f.vector({**GOOD, "timestamp": "2026-12-06T12:00:00.000Z"})
    assert third[i["card_tx_10m"]] == 0 and third[i["card_tx_1h"]] == 0


def test_features_are_the_same_at_any_time_scale() -> None:
    """The live stream compresses time; a model trained at its scale sees the same vectors."""
    world = small_world(8)
    txs = take(world, 1500)
    sites = model.site_reference(world)
    t0 = contract.epoch(txs[0]["timestamp"])
    k = 50.0
    plain, fast = features.Features(sites), features.Features(sites, time_scale=k)
    for tx in txs:
        at = contract.epoch(tx["timestamp"])
        a = plain.vector(tx, at)
        b = fast.vector(tx, t0 + (at - t0) / k)
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)


# -- decisions -----------------------------------------------------------------------------------
def test_blocklists_deny_at_once_with_the_reason_and_a_cancellation_lets_through() -> None:
    lists = Blocklists()
    decider = Decider(lists, threshold=0.5, model_version="v9")
    decision, entries = decider.decide(GOOD, 0.1)
    assert decision.outcome == APPROVED and not entries and decision.model_version == "v9"
    for kind, key in (("card", "c-0000001"), ("user", "u-000001"), ("site", "s-00001")):
        lists.put(kind, key, {"reason": "analyst confirmed"})
        decision, _ = decider.decide(GOOD, 0.0)
        assert decision.outcome == DENIED_BLOCKLIST and decision.reasons == (f"{kind} {key} blocklisted: analyst confirmed",)
        lists.put(kind, key, None)
    assert decider.decide(GOOD, 0.0)[0].outcome == APPROVED
    assert lists.sizes() == {"card": 0, "user": 0, "site": 0}


def test_a_score_above_the_threshold_means_review_and_blocklists_the_card() -> None:
    decider = Decider(Blocklists(), threshold=0.5, model_version="v2")
    decision, entries = decider.decide(GOOD, 0.93)
    assert decision.outcome == REVIEW and decision.score == pytest.approx(0.93)
    assert [(e.kind, e.key) for e in entries] == [("card", "c-0000001")] and "v2" in entries[0].reason
    record = decision.record(GOOD, "2026-12-06T10:30:45.200Z")
    assert record["transaction_id"] == "t-1" and record["outcome"] == REVIEW and record["reasons"]


def test_the_site_rule_needs_distinct_cards_within_the_window() -> None:
    rule = SiteRule(cards=3, window=600)
    assert not rule.flagged("s", "c1", 0) and not rule.flagged("s", "c1", 10) and not rule.flagged("s", "c2", 20)
    assert rule.flagged("s", "c3", 30)
    assert not SiteRule(cards=3, window=600).flagged("s", "c1", 0)
    late = SiteRule(cards=2, window=600)
    late.flagged("s", "c1", 0)
    assert not late.flagged("s", "c2", 700)


# -- training ------------------------------------------------------------------------------------
# A small world with ten times the usual fraud, so a few days hold enough of every pattern to learn.
RICH = dict(users=600, compromised_cards=6, compromised_sites=1, large_values=5, impossible_travels=4)


def test_the_held_out_run_follows_the_training_run_with_its_history() -> None:
    world = model.world_for(11, 1.0, **RICH)
    train = model.dataset(world, 2)
    held_out = model.dataset(world, 1, seed_offset=1, after=train)
    assert contract.epoch(held_out.rows[0]["timestamp"]) >= contract.epoch(train.rows[-1]["timestamp"])
    seen = features.NAMES.index("card_seen")
    known = {r["card_id"] for r in train.rows}
    first = {}
    for i, r in enumerate(held_out.rows):
        first.setdefault(r["card_id"], i)
    # A card that shopped during training is not new when the held-out run begins.
    assert all(held_out.x[i, seen] > 0 for c, i in first.items() if c in known)
    assert any(c in known for c in first)


def test_training_writes_a_versioned_model_and_deploys_only_if_not_worse(tmp_path: Path) -> None:
    first = model.train_and_maybe_deploy(tmp_path, seed=11, days=8, held_out_days=4, capacity=0.02, **RICH)
    assert first["version"] == "v1" and first["deployment"]["deployed"]
    assert (tmp_path / "deployed").read_text().strip() == "v1"
    h = first["held_out"]
    assert h["auc_pr"] > 0.5 and 0 < h["precision"] <= 1 and 0 < h["recall"] <= 1, h
    assert set(h["replay"]["patterns"]) == set(PATTERNS)
    saved = json.loads((tmp_path / "fraud-v1.json").read_text())
    assert saved["held_out"]["auc_pr"] == h["auc_pr"] and saved["features"] == list(features.NAMES)
    loaded = model.load(tmp_path)
    assert loaded.version == "v1" and loaded.threshold == pytest.approx(h["threshold"], abs=1e-6)
    # Analyst labels gone wrong (every fraud "cancelled" many times over, genuine ones "confirmed"):
    # the next model is worse on the same held-out run and is not deployed.
    data = model.dataset(model.world_for(11, 1.0, **RICH), 8)
    rng = np.random.default_rng(1)
    genuine = np.flatnonzero(data.y == 0)
    wrong = [(list(x), 0) for x in data.x[data.y == 1]] * 20 + [(list(data.x[i]), 1) for i in rng.choice(genuine, 3000)]
    second = model.train_and_maybe_deploy(tmp_path, seed=11, days=8, held_out_days=4, capacity=0.02, extra=wrong, **RICH)
    assert second["version"] == "v2" and not second["deployment"]["deployed"], second["deployment"]
    assert second["held_out"]["auc_pr"] < second["deployment"]["deployed_auc_pr_on_this_run"]
    assert (tmp_path / "deployed").read_text().strip() == "v1" and (tmp_path / "fraud-v2.pkl").exists()


def test_loading_without_a_deployed_model_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make train"):
        model.load(tmp_path)


# -- command line --------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rastro_fraud", *args], capture_output=True, text=True,
                          cwd=REPO, env={"PYTHONPATH": f"{REPO / 'fraud'}:{REPO / 'producer'}", "PATH": "/usr/bin:/bin"}, timeout=300)


def test_the_cli_generates_and_validates_and_names_the_bad_field(tmp_path: Path) -> None:
    out = tmp_path / "tx.jsonl"
    done = cli("generate", "--users", "200", "--days", "1", "--unlabelled", "--out", str(out), "--reference-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sites.jsonl").read_text().count("\n") == 60
    assert cli("validate", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    bad = json.loads(lines[3])
    bad["country"] = "ZZ"
    lines[3] = json.dumps(bad)
    out.write_text("\n".join(lines) + "\n")
    done = cli("validate", str(out))
    assert done.returncode == 1 and f"{out}:4: country: must be an ISO 3166-1 alpha-2 country code" in done.stderr
    assert "'ZZ'" in done.stderr


def test_the_cli_refuses_a_bad_option_naming_it() -> None:
    done = cli("train", "--review-capacity", "2")
    assert done.returncode == 2 and "--review-capacity" in done.stderr and "'2'" in done.stderr


def test_an_analyst_verdict_names_a_bad_kind_key_or_verdict() -> None:
    from rastro_fraud import feedback
    rec = feedback.record("cancel", "card", "c-0000001", analyst="ana")
    assert rec["verdict"] == "cancelled" and rec["kind"] == "card" and rec["key"] == "c-0000001"
    for args, field in ((("ban", "card", "c-1"), "verdict"), (("confirm", "terminal", "t-1"), "kind"),
                        (("confirm", "card", "c 1"), "key")):
        with pytest.raises(contract.TransactionError) as exc:
            feedback.record(*args)
        assert exc.value.field == field and repr(args[["verdict", "kind", "key"].index(field)]) in str(exc.value)


# -- the analysts' PostgreSQL copy -----------------------------------------------------------------
def suspicious(i: int, card: str = "c-1", user: str = "u-1", site: str = "s-1", minute: int = 0) -> dict:
    tx = {**GOOD, "transaction_id": f"t-{i}", "card_id": card, "user_id": user, "site_id": site,
          "timestamp": f"2026-12-06T10:{minute:02d}:00.000Z"}
    decision = Decider(Blocklists(), 0.5, "v3").decide(tx, 0.9)[0]
    return {**decision.record(tx, "2026-12-06T10:59:00.000Z"), "transaction": tx, "features": [1.0, None, 2.5]}


def test_the_store_records_each_suspicious_transaction_once_with_its_offsets(postgres: str) -> None:
    from rastro_fraud.store import Store
    store = Store(postgres)
    store.migrate()
    store.migrate()  # idempotent
    assert store.record([suspicious(1), suspicious(2, card="c-2", minute=5)], "fraud-suspicious", {0: 2}) == 2
    # A replay after a crash between Kafka and PostgreSQL: nothing twice, the offsets move on.
    assert store.record([suspicious(2, card="c-2", minute=5), suspicious(3, site="s-9", minute=9)], "fraud-suspicious", {0: 4}) == 1
    assert store.offsets("fraud-suspicious") == {0: 4}
    assert [r["transaction_id"] for r in store.find(card_id="c-1")] == ["t-3", "t-1"]
    assert [r["transaction_id"] for r in store.find(site_id="s-9")] == ["t-3"]
    assert [r["transaction_id"] for r in store.find(since=datetime(2026, 12, 6, 10, 4, tzinfo=timezone.utc),
                                                    until=datetime(2026, 12, 6, 10, 6, tzinfo=timezone.utc))] == ["t-2"]
    row = store.find(card_id="c-2")[0]
    assert row["outcome"] == REVIEW and row["model_version"] == "v3" and row["features"] == [1.0, None, 2.5]
    with pytest.raises(ValueError, match="^merchant_id: not a filter"):
        store.find(merchant_id="x")
    assert store.verdict("t-1", "confirmed", "ana")["verdict_by"] == "ana"
    store.verdict("t-2", "cancelled", "ana")
    with pytest.raises(KeyError, match="t-404"):
        store.verdict("t-404", "confirmed", "ana")
    with pytest.raises(ValueError, match="^verdict: "):
        store.verdict("t-3", "maybe", "ana")
    assert store.labels() == [{"features": [1.0, None, 2.5], "fraud": True}, {"features": [1.0, None, 2.5], "fraud": False}]
    store.close()


def test_a_database_file_without_a_key_is_refused_naming_the_file_and_the_key(tmp_path: Path) -> None:
    from rastro_fraud.store import database_config
    f = tmp_path / "db.properties"
    f.write_text("hosts=10.0.0.1, 10.0.0.2\nport=5432\ndbname=rastro_fraud\nuser=fraud_analyst\npassword=secret\n"
                 "sslrootcert=ca.pem\n")
    conf = database_config(f)
    assert conf["host"] == "10.0.0.1,10.0.0.2" and conf["port"] == "5432,5432"
    assert conf["target_session_attrs"] == "read-write" and conf["sslmode"] == "verify-full"
    assert conf["sslrootcert"] == str(tmp_path / "ca.pem")
    f.write_text("hosts=10.0.0.1\nport=5432\ndbname=rastro_fraud\npassword=secret\n")
    with pytest.raises(ValueError, match=r"db.properties: user: missing"):
        database_config(f)
    done = cli("suspicious", "--database", str(f))
    assert done.returncode == 1 and "user: missing" in done.stderr


def test_the_analysts_query_finds_suspicious_transactions_through_the_cli(postgres: str, tmp_path: Path) -> None:
    """`rastro-fraud suspicious` on a database file: the first host down, the next one answers."""
    from rastro_fraud.store import Store
    store = Store(postgres)
    store.migrate()
    store.record([suspicious(7, card="c-77", minute=7), suspicious(8, card="c-88", minute=8)], "fraud-suspicious", {0: 2})
    store.close()
    port = postgres.split("port=")[1].split()[0]
    f = tmp_path / "db.properties"
    # 127.0.0.2 answers nothing on that port: libpq moves on to the next host.
    f.write_text(f"hosts=127.0.0.2,127.0.0.1\nport={port}\ndbname=postgres\nuser=rastro\npassword=unused\nsslmode=disable\n")
    done = cli("suspicious", "--database", str(f), "--card", "c-77")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["transaction_id"] for r in rows] == ["t-7"] and rows[0]["card_id"] == "c-77"
    bad = cli("suspicious", "--database", str(f), "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr and "'yesterday'" in bad.stderr


class _Queue:
    """librdkafka's consume(n, timeout) as documented: up to n messages, returning early only when it
    has n; `arrivals` are messages that come in during a wait."""

    def __init__(self, queued: int, arrivals: int = 0) -> None:
        self.queued, self.arrivals, self.waits = list(range(queued)), list(range(100, 100 + arrivals)), []

    def consume(self, n: int, timeout: float) -> list[int]:
        if len(self.queued) < n and timeout > 0:
            self.waits.append(timeout)
            self.queued += self.arrivals
            self.arrivals = []
        out, self.queued = self.queued[:n], self.queued[n:]
        return out


def test_a_batch_is_what_has_arrived_and_only_an_empty_queue_waits() -> None:
    from rastro_fraud.service import next_batch
    q = _Queue(queued=3)
    assert next_batch(q, 500, wait=0.2) == [0, 1, 2] and q.waits == []  # consume(500, 0.2) waited 200 ms here
    q = _Queue(queued=1200)
    assert len(next_batch(q, 500, wait=0.2)) == 500 and q.waits == []
    q = _Queue(queued=0, arrivals=4)
    assert next_batch(q, 500, wait=0.2) == [100, 101, 102, 103] and q.waits == [0.2]
    q = _Queue(queued=0)
    assert next_batch(q, 500, wait=0.2) == [] and q.waits == [0.2]
