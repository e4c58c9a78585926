"""chaos.yml on the lab: under 5,000 updates/s with acks=all, each fault loses no acknowledged
update, Redis ends equal to the latest acknowledged state, under-replicated partitions return to 0,
and the matching alerts fire. That no fault left anything behind is test_idempotence.py's site.yml
run, which make test (and make test-chaos) runs after these."""

from __future__ import annotations

import json
import time

import pytest

from tests.lib.lab import REPO, ansible_playbook, newest_chaos_run, primary_now, wait_until
from tests.lib.prom import api, urp_now

SUMMARY = REPO / "artifacts" / "chaos" / "summary.json"

# fault, target ("" = chaos.yml's default), seconds, alerts that must fire (instance-checked when marked)
CASES = [
    ("stop", "kafka2", 60, ["KafkaBrokerDown*", "KafkaUnderReplicatedPartitions"]),
    ("kill", "", 60, ["KafkaBrokerDown*", "KafkaUnderReplicatedPartitions"]),
    # The default target leads the most partitions: a cut-off leader is the case that stalls clients
    # (a broker restored from the kill just before would lead nothing).
    ("isolate", "", 60, ["KafkaBrokerDown*", "KafkaUnderReplicatedPartitions"]),
    # Connect's alert waits 1 min: hold the worker down long enough for it.
    ("connect-kill", "", 90, ["ConnectWorkerDown*"]),
    ("redis-restart", "", 60, ["RedisDown*"]),
    # The primary the Sentinels name, SIGKILLed and held down: a replica takes over.
    ("redis-kill", "", 45, ["RedisDown*", "RedisPrimaryChanged"]),
    # Every server loses its data at once; 1,000 drivers fell silent before the fault: only the
    # sink's replay of the topic brings them back.
    ("redis-wipe", "", 1, ["RedisCacheRebuilding"]),
    # The dispatch API SIGKILLed on one host and held down: clients that know every host lose nothing.
    ("api-kill", "", 45, ["DispatchApiDown*"]),
]
# Faults during which chaos.yml also asks the dispatch API (chaos_api_probe_faults).
API_PROBED = {"api-kill", "redis-kill"}
# A broker down (its process stopped or killed): the lag exporter must go on reporting the sink's lag.
BROKER_DOWN = {"stop", "kill"}
SINK_LAG = 'kafka_consumergroup_lag_sum{consumergroup="connect-redis-sink", topic="driver-locations"}'
EXTRA = {"redis-wipe": ["-e", "chaos_idle_drivers=1000"]}


def lag_reported_through(since: float, until: float) -> tuple[int, int]:
    """(samples, value changes) of the sink's lag that Prometheus scraped between since and until."""
    window = f"{int(until - since)}s"
    def one(fn: str) -> int:
        r = api("query", query=f"{fn}({SINK_LAG}[{window}])", time=str(until))["result"]
        return int(float(r[0]["value"][1])) if r else 0
    return one("count_over_time"), one("changes")


def fired(alert: str, instance: str, since: float, until: float) -> bool:
    window = int(until - since) + 1
    sel = f'alertname="{alert}", alertstate="firing"' + (f', instance="{instance}"' if instance else "")
    return bool(api("query", query=f"max_over_time(ALERTS{{{sel}}}[{window}s])", time=str(until))["result"])


@pytest.mark.parametrize("fault,target,duration,alerts", CASES, ids=[c[0] for c in CASES])
def test_fault_loses_nothing(fault: str, target: str, duration: int, alerts: list[str]) -> None:
    wait_until(lambda: urp_now() == 0, 180, interval=3, what="a healthy cluster before the fault")
    args = ["chaos.yml", "-e", f"fault={fault}", "-e", f"duration={duration}"]
    if target:
        args += ["-e", f"target={target}"]
    args += EXTRA.get(fault, [])
    started = time.time()
    proc = ansible_playbook(*args, timeout=1800)
    run = newest_chaos_run(fault, started)
    assert run is not None, proc.stdout[-3000:]
    report = json.loads((run / "report.json").read_text())
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    summary[fault] = {k: report[k] for k in ("target", "acknowledged", "lost", "duplicates", "failed",
                                            "unavailability_window_s", "p99_latency_during_fault_ms",
                                            "urp_zero_after_restore_s", "redis_converged_after_production_s")}
    summary[fault].update({k: report[k] for k in ("sink_write_pause_s", "idle_drivers_back_after_injection_s") if k in report})
    summary[fault]["acknowledged_per_s"] = round(report["acknowledged"] / report["production_s"])
    summary[fault]["run"] = run.name
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    assert proc.returncode == 0, proc.stdout[-4000:]

    # The fault met real load: the verifier asks 5,000 updates/s for lead + duration + tail (10 + 30 s)
    # and catches up when it falls behind, but on this shared 2-core box it reached 3,780-4,935/s
    # (82 % in a CI run while the sink replayed): a floor that proves load, not a speed claim.
    assert report["acknowledged"] >= 0.7 * 5000 * (duration + 40), report
    assert report["lost"] == 0 and report["failed"] == 0, report
    # The run's made-up drivers leave with it (a tombstone each, all acknowledged).
    assert report["drivers_removed_unacknowledged"] == 0, report
    assert report["redis_converged"] and report["redis_mismatched_drivers"] == 0, report
    assert report["urp_zero_after_restore_s"] is not None, report
    assert (run / "timeline.png").stat().st_size > 20_000
    if fault in API_PROBED:
        # Every request the prober made got an answer, from the first host asked or the next.
        api_report = json.loads((run / "api.json").read_text())
        summary[fault]["api"] = {k: api_report[k] for k in ("requests", "unanswered", "answered_after_moving_on",
                                                             "why_hosts_did_not_answer", "p99_during_fault_ms")}
        SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
        # At least 20 requests/s through the whole run (the prober asks 100/s; this box serves what it can).
        assert api_report["requests"] >= 20 * (duration + 40) and api_report["unanswered"] == 0, api_report
        if fault == "api-kill":
            # The dead host was asked, and the client moved on: the fault did reach the clients.
            assert api_report["answered_after_moving_on"] > 0, api_report
    if fault in BROKER_DOWN:
        # The exporter's figures keep coming while the broker is down (they once stayed frozen for
        # the whole outage): from 10 s after the fault to the restore, under 5,000 updates/s, a
        # refresh every 5 s and a scrape every 5 s, the lag is scraped and moves several times.
        since, until = report["injected"] + 10, report["restored"]
        samples, changes = lag_reported_through(since, until)
        expected = int((until - since) / 5)
        summary[fault]["sink_lag_samples_during_fault"] = {"samples": samples, "changes": changes, "scrapes": expected}
        SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
        assert samples >= expected // 2 and changes >= expected // 4, (
            f"the sink lag froze while {report['target']} was down: {samples} samples, {changes} changes "
            f"in {int(until - since)} s")
    if fault == "redis-kill":
        # Sentinel notices in 2 s and promotes a replica; the sink asks the Sentinels again. A loose
        # bound that catches a broken failover (Sentinel's default would be 30 s); the measured
        # figure goes to the README.
        assert report["sink_write_pause_s"] < 15, report
        assert report["target"] != primary_now(), "the killed primary is still the primary"
        # That a deploy after the failover changes nothing and keeps the primary where the Sentinels put
        # it is test_idempotence.py's whole site.yml (Redis's play included), which make test and make
        # test-chaos run after these faults; running playbooks/redis.yml here as well cost ~3 minutes.
    if fault == "redis-wipe":
        assert report["idle_drivers_lost"], f"the wipe did not remove the idle drivers: {report}"
        assert report["idle_drivers_back_after_injection_s"] is not None, report
    until = report["restored"] + 30
    for alert in alerts:
        instance = report["target"] if alert.endswith("*") else ""
        name = alert.rstrip("*")
        assert fired(name, instance, report["injected"], until), f"{name} ({instance or 'any'}) did not fire during {fault}"

