"""chaos.yml on the lab: under 5,000 updates/s with acks=all, each fault loses no acknowledged
update, Redis ends equal to the latest acknowledged state, under-replicated partitions return to 0,
and the matching alerts fire."""

from __future__ import annotations

import json
import time

import pytest

from tests.lib.lab import REPO, ansible_playbook, newest_chaos_run, wait_until
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
]


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
    started = time.time()
    proc = ansible_playbook(*args, timeout=1800)
    run = newest_chaos_run(fault, started)
    assert run is not None, proc.stdout[-3000:]
    report = json.loads((run / "report.json").read_text())
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    summary[fault] = {k: report[k] for k in ("target", "acknowledged", "lost", "duplicates", "failed",
                                            "unavailability_window_s", "p99_latency_during_fault_ms",
                                            "urp_zero_after_restore_s", "redis_converged_after_production_s")}
    summary[fault]["run"] = run.name
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")
    assert proc.returncode == 0, proc.stdout[-4000:]

    assert report["acknowledged"] >= 0.9 * 5000 * (duration + 40), report
    assert report["lost"] == 0 and report["failed"] == 0, report
    assert report["redis_converged"] and report["redis_mismatched_drivers"] == 0, report
    assert report["urp_zero_after_restore_s"] is not None, report
    assert (run / "timeline.png").stat().st_size > 20_000
    until = report["restored"] + 30
    for alert in alerts:
        instance = report["target"] if alert.endswith("*") else ""
        name = alert.rstrip("*")
        assert fired(name, instance, report["injected"], until), f"{name} ({instance or 'any'}) did not fire during {fault}"
