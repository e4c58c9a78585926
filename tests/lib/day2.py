"""What the Day-2 tests (tests/day2, make test-day2) share: the cluster's placement read with Kafka's
own tool on a broker, an operator playbook run under load through chaos.yml, and the summary they
write to artifacts/day2/summary.json."""

from __future__ import annotations

import json
import re
import sys
import time

from tests.lib.lab import REPO, TOOLS, ansible_playbook, inventory_groups, newest_chaos_run, ssh, wait_until

sys.path.insert(0, str(REPO / "module_utils"))
import kafka_assignment as placement  # noqa: E402

RATE = 5000
SUMMARY = REPO / "artifacts" / "day2" / "summary.json"


def cluster_state() -> placement.ClusterState:
    broker = inventory_groups()["kafka_broker"][0]
    return placement.parse_describe(ssh(broker, f"kafka-topics {TOOLS} --bootstrap-server {broker}:9095 --describe").stdout)


def urp() -> int:
    return sum(1 for p in cluster_state().partitions.values() if len(p.isr) < len(p.replicas))


def record(name: str, values: dict) -> None:
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    summary = json.loads(SUMMARY.read_text()) if SUMMARY.exists() else {}
    summary[name] = values
    SUMMARY.write_text(json.dumps(summary, indent=2) + "\n")


def under_load(fault: str, *extra: str, timeout: int = 3600) -> dict:
    """chaos.yml's fault (a Day-2 playbook run in the background) under RATE updates/s: its report,
    after checking the playbook succeeded and nothing acknowledged was lost."""
    wait_until(lambda: urp() == 0, 300, interval=5, what=f"a healthy cluster before {fault}")
    started = time.time()
    proc = ansible_playbook("chaos.yml", "-e", f"fault={fault}", "-e", "duration=1", "-e", f"chaos_rate={RATE}",
                            *extra, timeout=timeout)
    run = newest_chaos_run(fault, started)
    assert run is not None, proc.stdout[-3000:]
    report = json.loads((run / "report.json").read_text())
    log = (run / f"{fault}.log").read_text()
    # The reassignment's own time: profile_tasks's line for the wait until every move is done.
    moves = re.search(r"Wait for every move to finish[^\n]*?-+ ([0-9.]+)s", log)
    record(fault, {"run": run.name, "playbook_s": round(report["restored"] - report["injected"], 1),
                   "reassignment_wait_s": float(moves.group(1)) if moves else None,
                   **{k: report.get(k) for k in ("acknowledged", "lost", "failed", "duplicates", "unavailability_window_s",
                                                  "p99_latency_during_fault_ms", "redis_converged_after_production_s")}})
    assert proc.returncode == 0, proc.stdout[-4000:] + log[-4000:]
    assert report["acknowledged"] >= 0.9 * RATE * (report["restored"] - report["injected"]), report
    assert report["lost"] == 0 and report["failed"] == 0, report
    assert report["redis_converged"] and report["redis_mismatched_drivers"] == 0, report
    report["run"] = run.name
    return report


def no_throttle_left() -> bool:
    broker = inventory_groups()["kafka_broker"][0]
    out = ssh(broker, f"kafka-configs {TOOLS} --bootstrap-server {broker}:9095 --describe --entity-type brokers --all").stdout
    topics = ssh(broker, f"kafka-configs {TOOLS} --bootstrap-server {broker}:9095 --describe --entity-type topics").stdout
    return "throttled.rate" not in out and "throttled.replicas" not in topics
