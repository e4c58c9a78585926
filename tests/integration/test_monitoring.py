"""Monitoring on the lab: every target answers, every dashboard panel has data, the exporters tell
the truth about Kafka and Redis, the console dashboard renders, and stopping a broker fires the
broker-down and under-replicated alerts within their `for:` windows, which resolve after it restarts."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from rastro_producer.contract import GEO_KEYS
from tests.lib.lab import HOSTS, REPO, kafka_conf, redis_admin, ssh, wait_until
from tests.lib.prom import METRIC, api, firing_alerts, local_proxy, mon, query, targets

ARTIFACTS = REPO / "artifacts" / "monitoring"
# Every host of each job in inventories/local (docs/contracts.md ports).
EXPECTED_TARGETS = {("kafka", h) for h in HOSTS} | {("connect", h) for h in HOSTS} | {("node", h) for h in HOSTS} | {
    ("redis", h) for h in HOSTS} | {("dispatch-api", h) for h in HOSTS} | {("producer", "kafka1"), ("rastro-exporter", "kafka3"),
    ("prometheus", "kafka3"), ("alertmanager", "kafka3")}


# The fraud dashboard and rules (rastro-fraud-alerts.yml) have data where playbooks/fraud.yml
# deployed the decision service: tests/fraud checks them (make test-fraud).
PIPELINE_DASHBOARDS = sorted(p for p in (REPO / "dashboards").glob("*.json") if p.name != "fraud.json")


def value(expr: str) -> float:
    result = query(expr)
    assert result, f"no data for {expr}"
    return float(result[0]["value"][1])


@pytest.fixture(scope="module", autouse=True)
def pipeline_running() -> None:
    # The producer service was stopped by earlier tests and restarted: rate() panels need two of its
    # samples inside their window before they can show anything.
    wait_until(lambda: bool(query("sum(rate(rastro_producer_messages_acknowledged_total[1m])) > 0")), 120,
               interval=2, what="the producer's acknowledgement rate to be visible in Prometheus")


def test_every_scrape_target_is_up() -> None:
    def all_up() -> bool:
        return all(t["health"] == "up" for t in targets())
    wait_until(all_up, 60, interval=3, what="every scrape target to be up")
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets()}
    assert seen == EXPECTED_TARGETS, f"missing {EXPECTED_TARGETS - seen}, unexpected {seen - EXPECTED_TARGETS}"


def test_alert_rules_are_loaded_and_evaluate_cleanly() -> None:
    rules = [r for g in api("rules")["groups"] for r in g["rules"]]
    assert len(rules) >= 20
    broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not broken, broken




def test_every_metric_named_in_rules_dashboards_and_console_exists() -> None:
    # `or vector(0)` keeps a panel alive when a counter has no series yet, and would equally hide a
    # misspelt metric: so every name used anywhere must be one the lab's Prometheus has seen.
    known = set(api("label/__name__/values"))
    sources = [*PIPELINE_DASHBOARDS, REPO / "roles/prometheus/files/rules/rastro-alerts.yml",
               REPO / "roles/prometheus/files/consoles/rastro.html"]
    unknown = {f"{p.name}: {m}" for p in sources for m in METRIC.findall(p.read_text()) if m not in known}
    assert not unknown, sorted(unknown)


def test_every_dashboard_panel_returns_data() -> None:
    # A panel that returns nothing from the lab is a panel an operator would stare at in vain.
    dashboards = PIPELINE_DASHBOARDS
    assert len(dashboards) == 5
    empty, checked = [], 0
    for path in dashboards:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                checked += 1
                if not query(target["expr"]):
                    empty.append(f"{path.name}: {panel['title']}: {target['expr']}")
    assert checked > 50
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_kafka_metrics_agree_with_the_cluster(admin) -> None:
    assert value("sum(kafka_controller_active_controller_count)") == 1
    assert value('count(kafka_raft_current_state{state="leader"})') == 1
    assert value("max(kafka_controller_active_brokers)") == 3

    def partitions_agree() -> bool:
        # An earlier test's scratch topic may have been deleted after the last scrape: retry.
        md = admin.list_topics(timeout=15)
        return value("max(kafka_controller_global_partitions)") == sum(len(t.partitions) for t in md.topics.values())
    wait_until(partitions_agree, 30, interval=3, what="the JMX partition count to match the cluster metadata")
    # Leaders per broker as Kafka's metadata says and as each broker's JMX reports (a scrape may
    # trail a leadership move by a few seconds, hence the retries).
    ids = {1: "kafka1", 2: "kafka2", 3: "kafka3"}

    def leaders_agree() -> bool:
        md = admin.list_topics(timeout=15)
        counts = {h: 0 for h in ids.values()}
        for t in md.topics.values():
            for p in t.partitions.values():
                counts[ids[p.leader]] += 1
        return all(value(f'kafka_server_leader_partitions{{instance="{h}"}}') == n for h, n in counts.items())
    wait_until(leaders_agree, 60, interval=3, what="JMX leader counts to match the cluster metadata")


def test_lag_exporter_reports_a_committed_offset() -> None:
    group = f"it-lag-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({**kafka_conf(), "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition("driver-locations", 0, 5)], asynchronous=False)
    finally:
        consumer.close()
    sel = f'consumergroup="{group}", topic="driver-locations", partition="0"'
    wait_until(lambda: bool(query(f"kafka_consumergroup_current_offset{{{sel}}}")), 60, interval=2,
               what=f"the exporter to report group {group}")
    assert value(f"kafka_consumergroup_current_offset{{{sel}}}") == 5
    end = value('kafka_topic_partition_current_offset{topic="driver-locations", partition="0"}')
    assert value(f"kafka_consumergroup_lag{{{sel}}}") == end - 5


def test_freshness_exporter_agrees_with_redis() -> None:
    r = redis.Redis(**redis_admin(), decode_responses=True)
    # The producer keeps writing the same 1,000 drivers, so the count is stable while the age moves.
    keys = sum(1 for _ in r.scan_iter(match="driver:*", count=1000))
    wait_until(lambda: value("rastro_driver_state_keys") == keys, 30, interval=2,
               what=f"rastro_driver_state_keys to equal the {keys} driver:* keys in Redis")
    # Drivers change status as they drive: the sum over the status sets is stable, each set's size is not.
    assert value("sum(rastro_driver_state_geo_members)") == sum(r.zcard(key) for key in GEO_KEYS.values()) == keys
    assert {s["metric"]["status"] for s in query("rastro_driver_state_geo_members")} == set(GEO_KEYS)
    # The producer runs at 250 updates/s: the newest update in Redis is seconds old at most.
    assert value("rastro_driver_state_newest_update_age_seconds") < 5
    # The sink's own count of what it wrote (drivers:stats) reaches Prometheus, and keeps growing.
    applied = int(r.hget("drivers:stats", "applied") or 0)
    assert applied > 0, "the sink keeps no drivers:stats"
    wait_until(lambda: value("rastro_driver_state_updates_applied_total") >= applied, 30, interval=2,
               what=f"rastro_driver_state_updates_applied_total to reach the {applied} of drivers:stats")


STAT = re.compile(r'<div class="stat (\w+)"><span class="v">([^<]*)</span>([^<]+)</div>')


def console_tiles() -> list[tuple[str, str, str]]:
    """(state, value, title) of every tile of the console, as Prometheus renders it now."""
    html = mon().get(f"{mon().prometheus_url}/consoles/rastro.html").decode()
    assert "error executing template" not in html
    return STAT.findall(html)


def test_console_dashboard_renders_in_chromium() -> None:
    # Every tile green on a healthy lab; the tests before this one write bursts (the sink's lag
    # passes its 1,000-record tile for a scrape or two), so the lab gets a minute to settle.
    tiles: list[tuple[str, str, str]] = []

    def all_green() -> bool:
        nonlocal tiles
        tiles = console_tiles()
        return len(tiles) == 12 and all(state == "ok" for state, _, _ in tiles)

    try:
        wait_until(all_green, 90, interval=5, what="every console tile green")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; not green: {[t for t in tiles if t[0] != 'ok']} of {len(tiles)} tiles") from None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "console.png"
    png.unlink(missing_ok=True)
    # virtual-time-budget lets the graphs' query_range requests finish before the shot.
    # Through a loopback proxy that adds the credentials: chromium would take them on its command line only.
    with local_proxy() as prometheus:
        proc = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                               "--enable-logging=stderr", "--v=0", "--window-size=1280,1400",
                               "--virtual-time-budget=15000", f"--screenshot={png}",
                               f"{prometheus}/consoles/rastro.html?range=15m"],
                              capture_output=True, text=True, timeout=120)
    assert png.exists() and png.stat().st_size > 40_000, proc.stderr[-2000:]
    js_errors = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln and "Uncaught" in ln]
    assert not js_errors, js_errors
    import matplotlib.image as mpimg
    pixels = mpimg.imread(png)
    assert pixels.std() > 0.05, "the screenshot is blank"


def alertmanager_alerts() -> set[tuple[str, str]]:
    alerts = json.loads(mon().get(f"{mon().alertmanager_url}/api/v2/alerts?active=true", timeout=10))
    return {(a["labels"]["alertname"], a["labels"].get("instance", "")) for a in alerts}


def test_stopped_broker_fires_alerts_that_resolve_after_restart() -> None:
    for_s = {"KafkaBrokerDown": 30, "KafkaUnderReplicatedPartitions": 30}
    # Scrape and evaluation every 5 s in the lab: an alert may need two of each beyond its `for:`.
    slack = 20
    assert not set(for_s) & set(firing_alerts()), "alerts already firing before the fault"
    fired: dict[str, float] = {}
    resolved: dict[str, float] = {}
    stopped = time.monotonic()
    ssh("kafka1", "systemctl stop kafka")
    try:
        def both_fired() -> bool:
            now = firing_alerts()
            for name in for_s:
                hits = now.get(name, [])
                ok = any(a.get("instance") == "kafka1" for a in hits) if name == "KafkaBrokerDown" else bool(hits)
                if ok and name not in fired:
                    fired[name] = time.monotonic() - stopped
            return len(fired) == len(for_s)
        wait_until(both_fired, max(for_s.values()) + slack + 30, interval=1,
                   what=f"{sorted(for_s)} to fire (fired so far: {fired})")
        wait_until(lambda: {("KafkaBrokerDown", "kafka1")} <= alertmanager_alerts(), 30, interval=1,
                   what="Alertmanager to receive KafkaBrokerDown for kafka1")
    finally:
        ssh("kafka1", "systemctl start kafka")
    restarted = time.monotonic()

    def both_resolved() -> bool:
        now = firing_alerts()
        for name in for_s:
            if name not in now and name not in resolved:
                resolved[name] = time.monotonic() - restarted
        return len(resolved) == len(for_s)
    wait_until(both_resolved, 180, interval=1, what=f"the alerts to resolve (resolved so far: {resolved})")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "alerts.json").write_text(json.dumps(
        {"fired_after_stop_s": fired, "resolved_after_start_s": resolved, "for_s": for_s}, indent=2))
    print(f"fired after stop: {fired}; resolved after restart: {resolved}")
    for name, t in fired.items():
        # Not before the `for:` window (the rule is honoured), and within it plus scrape/eval slack.
        assert for_s[name] <= t <= for_s[name] + slack + 15, (name, t)
