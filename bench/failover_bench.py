#!/usr/bin/python3
"""Failover benchmark on the lab, in one run: the produce unavailability window after a SIGKILL of a
broker, with Kafka's default failover timings against rastro's, on the same cluster and load.

For each configuration the Kafka role is re-applied (health-gated rolling restart), then
`chaos.yml -e fault=kill` runs --rounds times for each case, its producer with that configuration's
client settings (librdkafka's defaults, or the producer's own):

- follower: the broker leading the most driver-locations partitions among those that are not the
  active KRaft controller;
- controller: the active KRaft controller (combined mode: it is a broker too, so the quorum must
  elect a new controller before the dead broker can be fenced).

Each chaos run writes its own report (artifacts/chaos/<run>/); this collects the windows into
bench/results/failover.{json,csv,png} and prints a table with the ratio. It ends with rastro's
settings applied. About 25 minutes with the defaults (2 configurations x 2 cases x 3 rounds).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confluent_kafka.admin import AdminClient  # noqa: E402

from chaos.verifier import under_replicated  # noqa: E402
from tests.lib.lab import INTERNAL, TOOLS, HOSTS, ansible_playbook, kafka_conf, newest_chaos_run, ssh, wait_until  # noqa: E402

RESULTS = REPO / "bench" / "results"
TOPIC = "driver-locations"
# Kafka's own defaults for every timing rastro changes (roles/kafka/defaults/main.yml).
CONFIGS: dict[str, dict[str, int]] = {
    "kafka-defaults": {
        "kafka_broker_session_timeout_ms": 9000,
        "kafka_broker_heartbeat_interval_ms": 2000,
        "kafka_controller_quorum_fetch_timeout_ms": 2000,
        "kafka_controller_quorum_election_timeout_ms": 1000,
        "kafka_controller_quorum_election_backoff_max_ms": 1000,
        "kafka_replica_fetch_backoff_ms": 1000,
        "kafka_replica_fetch_wait_max_ms": 500,
    },
    "rastro": {},
}
# The client's side of the same chain: librdkafka's defaults against the producer's (sender.py).
CLIENT: dict[str, dict[str, int]] = {
    "kafka-defaults": {"topic.metadata.refresh.interval.ms": 300000, "metadata.max.age.ms": 900000},
    "rastro": {},
}


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-failover] {msg}", flush=True)


def active_controller() -> str:
    out = ssh("kafka1", f"/usr/local/bin/kafka-metadata-quorum {TOOLS} --bootstrap-server {INTERNAL} describe --status").stdout
    leader = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("LeaderId"))
    return f"kafka{leader}"


def leader_counts(admin: AdminClient) -> dict[str, int]:
    counts = dict.fromkeys(HOSTS, 0)
    for p in admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions.values():
        counts[f"kafka{p.leader}"] = counts.get(f"kafka{p.leader}", 0) + 1
    return counts


def balance_leaders() -> None:
    """Preferred leader election, as Kafka's periodic rebalance would do within 5 minutes: every kill
    starts from the steady state, not from wherever the last restart left the leaderships."""
    ssh("kafka1", f"/usr/local/bin/kafka-leader-election {TOOLS} --bootstrap-server {INTERNAL} "
                  "--election-type PREFERRED --all-topic-partitions", check=False)


def apply(config: str) -> None:
    log(f"applying {config} (health-gated rolling restart)")
    started = time.time()
    proc = ansible_playbook("playbooks/kafka.yml", "-e", json.dumps(CONFIGS[config]), timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"playbooks/kafka.yml failed for {config}:\n{proc.stdout[-3000:]}")
    log(f"{config} applied in {time.time() - started:.0f} s")


def kill(target: str, duration: int, client: dict[str, int]) -> dict:
    started = time.time()
    proc = ansible_playbook("chaos.yml", "-e", "fault=kill", "-e", f"target={target}", "-e", f"duration={duration}",
                            "-e", json.dumps({"chaos_producer_config": client}), timeout=1800)
    run = newest_chaos_run("kill", started)
    if proc.returncode != 0 or run is None:
        raise SystemExit(f"chaos.yml kill on {target} failed:\n{proc.stdout[-3000:]}")
    report = json.loads((run / "report.json").read_text())
    report["run"] = run.name
    return report


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = ["follower", "controller"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = {"kafka-defaults": "tab:gray", "rastro": "tab:blue"}
    for i, case in enumerate(cases):
        for j, config in enumerate(CONFIGS):
            xs = [r["window_s"] for r in rows if r["case"] == case and r["config"] == config]
            if not xs:
                continue
            x = i + (j - 0.5) * 0.35
            ax.bar(x, statistics.median(xs), width=0.3, color=colors[config], alpha=0.6,
                   label=config if i == 0 else None)
            ax.scatter([x] * len(xs), xs, color="black", s=12, zorder=3)
    ax.axhline(3.0, color="red", linestyle="--", linewidth=1, label="goal: 3 s")
    ax.set_xticks(range(len(cases)), ["killed broker is a controller follower", "killed broker is the active controller"])
    ax.set_ylabel("produce unavailability window (s)\nlongest silence of one partition")
    ax.set_title("SIGKILL of a broker under 5,000 updates/s (bars: median, dots: runs)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="kills per configuration and case")
    ap.add_argument("--duration", type=int, default=20, help="seconds each broker stays down")
    args = ap.parse_args()
    if args.rounds < 1 or args.duration < 1:
        ap.error(f"--rounds and --duration must be positive (got {args.rounds}, {args.duration})")

    admin = AdminClient(kafka_conf())
    rows: list[dict] = []
    for config in CONFIGS:
        apply(config)
        for rnd in range(1, args.rounds + 1):
            for case in ("follower", "controller"):
                wait_until(lambda: under_replicated(admin) == 0, 300, interval=3,
                           what="no under-replicated partitions before the kill")
                balance_leaders()
                controller = active_controller()
                counts = leader_counts(admin)
                if case == "controller":
                    target = controller
                else:
                    target = max((h for h in HOSTS if h != controller), key=lambda h: counts[h])
                log(f"{config} round {rnd}/{args.rounds}: kill {target} ({case}; active controller {controller}; "
                    f"driver-locations leaders {counts})")
                report = kill(target, args.duration, CLIENT[config])
                row = {"config": config, "case": case, "round": rnd, "target": target,
                       "active_controller": controller,
                       "window_s": report["unavailability_window_s"],
                       "any_ack_gap_s": report["longest_gap_any_ack_s"],
                       "silence_before_fault_s": report["longest_silence_before_fault_s"],
                       "lost": report["lost"], "run": report["run"]}
                log(f"  window {row['window_s']:.2f} s (any partition {row['any_ack_gap_s']:.2f} s), lost {row['lost']}")
                rows.append(row)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "failover.json").write_text(json.dumps({"configs": CONFIGS, "client": CLIENT, "rounds": args.rounds,
                                                       "duration_s": args.duration, "runs": rows}, indent=2) + "\n")
    with (RESULTS / "failover.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    chart(rows, RESULTS / "failover.png")

    print(f"\n{'case':<12}{'kafka-defaults (median)':>26}{'rastro (median)':>18}{'defaults / rastro':>20}{'rastro max':>12}")
    for case in ("follower", "controller"):
        d = statistics.median(r["window_s"] for r in rows if r["case"] == case and r["config"] == "kafka-defaults")
        ours = [r["window_s"] for r in rows if r["case"] == case and r["config"] == "rastro"]
        print(f"{case:<12}{d:>24.2f} s{statistics.median(ours):>16.2f} s{d / statistics.median(ours):>19.1f}x"
              f"{max(ours):>10.2f} s")
    print(f"lost acknowledged updates in all runs: {sum(r['lost'] for r in rows)}")
    print(f"results: {RESULTS}/failover.{{json,csv,png}}")
    return 0 if all(r["lost"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
