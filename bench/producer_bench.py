#!/usr/bin/python3
"""Benchmark: rastro's Python producer against Kafka's own ProducerPerformance, in one run, on
the lab cluster, with the same record size, acks=all, idempotence, lz4 and batching.

Scenarios: as fast as possible at linger.ms 10, 30 (rastro's default) and 40, and a fixed 10,000
updates/s at linger.ms 30 (where latency means something); each with the same settings for both producers.
Writes artifacts/bench/producer.{json,csv,png} and prints a table with the ratio ours/theirs.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "producer"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from rastro_producer.sender import Sender  # noqa: E402
from rastro_producer.simulator import Simulator, start_of  # noqa: E402
from tests.lib.lab import BOOTSTRAP, client_config_file, kafka_conf  # noqa: E402

PROPS = {"acks": "all", "enable.idempotence": "true", "compression.type": "lz4", "batch.size": "262144"}
# (name, target updates/s (0 = as fast as possible), linger.ms) — the same settings for both producers.
# librdkafka puts one partition in a ProduceRequest where the Java client packs every partition a
# broker leads into one, so at a short linger ours makes ~12x more requests and the brokers, on the
# same two cores, starve it; a longer linger fills its requests. Short, default and long lingers are measured.
SCENARIOS = (("max rate, linger 10 ms", 0.0, 10), ("max rate, linger 30 ms", 0.0, 30), ("max rate, linger 40 ms", 0.0, 40))
PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec .*?, ([\d.]+) ms avg latency, ([\d.]+) ms max latency, "
                       r"(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def ours(topic: str, updates: list, rate: float, linger_ms: int) -> dict:
    sender = Sender(BOOTSTRAP, topic, extra={**kafka_conf("bench"), "linger.ms": linger_ms}, keep_latencies=True)
    start = time.monotonic()
    for i, (key, update) in enumerate(updates):
        if rate > 0:
            # Pace like `rastro-producer run --rate`: never ahead of schedule.
            while i > (time.monotonic() - start) * rate:
                sender.poll(0.001)
        sender.send(key, update)
        if i % 100 == 0:
            # Serve delivery reports promptly: msg.latency() is read when the report is served.
            sender.poll(0)
    pending = sender.flush(120)
    elapsed = time.monotonic() - start
    lat = sender.stats.latencies
    assert pending == 0 and sender.stats.failed == 0, f"pending={pending} failed={sender.stats.failed}"
    return {"msgs_per_s": sender.stats.acked / elapsed, "p50_ms": pct(lat, 0.5) * 1000, "p99_ms": pct(lat, 0.99) * 1000}


def theirs(topic: str, count: int, size: int, rate: float, linger_ms: int, libs: Path) -> dict:
    cmd = ["java", "-Xmx512m", "-cp", f"{libs}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", topic, "--num-records", str(count), "--record-size", str(size),
           "--throughput", str(int(rate) if rate > 0 else -1),
           "--producer.config", str(client_config_file("bench")),
           "--producer-props", f"bootstrap.servers={BOOTSTRAP}", *[f"{k}={v}" for k, v in PROPS.items()],
           f"linger.ms={linger_ms}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    match = PERF_LINE.search(out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "")
    if out.returncode != 0 or not match:
        raise RuntimeError(f"ProducerPerformance failed ({out.returncode}):\n{out.stdout[-1500:]}\n{out.stderr[-1500:]}")
    return {"msgs_per_s": float(match.group(2)), "p50_ms": float(match.group(5)), "p99_ms": float(match.group(7))}


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, metric, title in zip(axes, ("msgs_per_s", "p50_ms", "p99_ms"),
                                 ("throughput (msgs/s, higher is better)", "p50 latency (ms)", "p99 latency (ms)")):
        for j, who in enumerate(("rastro (Python)", "ProducerPerformance (Java)")):
            vals = [next(r[metric] for r in rows if r["scenario"] == s and r["producer"] == who) for s in scenarios]
            xs = [i + (j - 0.5) * 0.38 for i in range(len(scenarios))]
            bars = ax.bar(xs, vals, 0.38, label=who, color=("#2a9d8f", "#e76f51")[j])
            ax.bar_label(bars, fmt="%.0f" if metric == "msgs_per_s" else "%.1f", fontsize=8)
        ax.set_xticks(range(len(scenarios)), [s.replace(', ', '\n') for s in scenarios], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.18)  # room for the bar labels and the legend
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Producer benchmark on the lab cluster: acks=all, idempotence, lz4, same record size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=200_000, help="records per run")
    ap.add_argument("--rate", type=float, default=10_000, help="the fixed-rate scenario's updates/s")
    ap.add_argument("--rate-linger", type=int, default=30, help="linger.ms of the fixed-rate scenario (rastro's default)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating runs per producer and scenario (median kept)")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    ap.add_argument("--libs", type=Path, default=REPO / "kafka-dist" / "target" / "kafka-4.3.1" / "libs")
    args = ap.parse_args()
    if not (args.libs / "kafka-tools-4.3.1.jar").exists():
        print(f"error: --libs {args.libs} has no kafka-tools jar; run `make kafka-dist`", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    updates = list(Simulator(1000, seed=99).rounds(start_of(None), args.count))
    # The pre-generated updates are a benchmark artifact (the service generates on the fly):
    # keep the garbage collector from rescanning them during the timed runs.
    gc.collect()
    gc.freeze()
    size = round(statistics.mean(len(json.dumps(u, separators=(",", ":"))) for _, u in updates))
    log(f"{args.count} records per run, mean value size {size} B (ProducerPerformance uses --record-size {size})")

    admin = AdminClient(kafka_conf("bench"))
    topic = f"bench-producer-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 12, 3, config={"min.insync.replicas": "2", "retention.ms": "600000"})])[topic].result(30)
    rows: list[dict] = []
    try:
        for scenario, rate, linger in (*SCENARIOS, (f"{args.rate / 1000:g}k/s, linger {args.rate_linger} ms", args.rate,
                                                    args.rate_linger)):
            runs: dict[str, list[dict]] = {"rastro (Python)": [], "ProducerPerformance (Java)": []}
            for r in range(args.rounds):
                log(f"{scenario}: round {r + 1}/{args.rounds}: rastro")
                runs["rastro (Python)"].append(ours(topic, updates, rate, linger))
                log(f"  {runs['rastro (Python)'][-1]}")
                log(f"{scenario}: round {r + 1}/{args.rounds}: ProducerPerformance")
                runs["ProducerPerformance (Java)"].append(theirs(topic, args.count, size, rate, linger, args.libs))
                log(f"  {runs['ProducerPerformance (Java)'][-1]}")
            for who, results in runs.items():
                rows.append({"scenario": scenario, "producer": who, "records": args.count, "value_bytes": size,
                             "linger_ms": linger,
                             **{m: statistics.median(x[m] for x in results) for m in ("msgs_per_s", "p50_ms", "p99_ms")}})
    finally:
        admin.delete_topics([topic])[topic].result(30)

    with open(args.out / "producer.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "producer.json").write_text(json.dumps(rows, indent=2))
    chart(rows, args.out / "producer.png")

    print(f"\n{'scenario':24s} {'producer':28s} {'msgs/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for row in rows:
        print(f"{row['scenario']:24s} {row['producer']:28s} {row['msgs_per_s']:10,.0f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f}")
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        o = next(r for r in rows if r["scenario"] == scenario and r["producer"].startswith("rastro"))
        t = next(r for r in rows if r["scenario"] == scenario and r["producer"].startswith("Producer"))
        print(f"ratio ours/theirs, {scenario}: throughput {o['msgs_per_s'] / t['msgs_per_s']:.2f}, "
              f"p50 {o['p50_ms'] / max(t['p50_ms'], 0.1):.2f}, p99 {o['p99_ms'] / max(t['p99_ms'], 0.1):.2f}")
    print(f"\nwrote {args.out}/producer.json, producer.csv, producer.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
