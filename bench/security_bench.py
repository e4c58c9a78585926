#!/usr/bin/python3
"""What TLS and SCRAM cost, side by side in one run on the same lab hosts:

1. plaintext: fresh lab hosts, `site.yml -e @bench/plaintext.yml` (Kafka PLAINTEXT without SASL or
   authorizer, Redis without TLS), then bench/producer_bench.py and bench/sink_bench.py;
2. secured: fresh lab hosts again, plain `site.yml` (the default: SASL_SSL/SCRAM-SHA-512, mTLS
   between nodes, Redis on TLS), then the same two benchmarks with the same settings.

The lab is left deployed the default way (secured). Goals (issue 12): the secured producer keeps at
least 85 % of the plaintext throughput, and freshness at 10,000 updates/s on the secured pipeline
stays within p50 <= 50 ms and p99 <= 250 ms. Writes artifacts/bench/security.{json,csv,png} (each
mode's own results under artifacts/bench/security/<mode>/) and prints the table with the ratios.
Each mode gets one untimed warm-up round first. Takes ~40 min: two fresh deployments, both benchmarks each.
`--modes secured` (or plaintext) measures one mode again and compares it with the other's results on disk.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = "/usr/bin/python3"
MODES = ("plaintext", "secured")
CREDENTIALS = {"plaintext": REPO / "credentials" / "local-plaintext", "secured": REPO / "credentials" / "local"}
DEPLOY_ARGS = {"plaintext": ["-e", "@bench/plaintext.yml"], "secured": []}
MAX_COST = 0.15          # at most 15 % of the producer's throughput
DEPLOYED_CASE = "rastro (Python), max rate, linger 30 ms"   # the producer's own linger.ms (sender.py)
# More and longer rounds than make bench-producer's default: 200,000 records (6 s) per round varied
# by a quarter between two rounds of the same case.
PRODUCER_ARGS = ["--count", "400000", "--rounds", "3"]
FRESHNESS_GOALS = {"freshness_p50_ms": 50.0, "freshness_p99_ms": 250.0}


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-security] {msg}", flush=True)


def run(step: str, cmd: list[str], logfile: Path, env: dict[str, str] | None = None, timeout: int = 3600) -> None:
    """One step, its output in logfile; a failure ends the run with the log's tail."""
    log(f"{step}: {' '.join(cmd)} (log: {logfile.relative_to(REPO)})")
    started = time.monotonic()
    with open(logfile, "w") as fh:
        proc = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = logfile.read_text().splitlines()[-40:]
        raise SystemExit(f"error: {step} exited {proc.returncode}:\n" + "\n".join(tail))
    log(f"{step}: done in {time.monotonic() - started:.0f} s")


def measure(mode: str, out: Path) -> None:
    """Fresh lab hosts, the mode's deployment, then both benchmarks into out/<mode>/."""
    mode_out = out / mode
    mode_out.mkdir(parents=True, exist_ok=True)
    run(f"{mode}: fresh lab hosts", ["bash", "-c", "lab/lab.sh down && lab/lab.sh up"], mode_out / "lab.log")
    run(f"{mode}: deploy", ["ansible-playbook", "site.yml", *DEPLOY_ARGS[mode]], mode_out / "site.log")
    env = dict(os.environ, RASTRO_CREDENTIALS=str(CREDENTIALS[mode]))
    protocol = security_protocol(CREDENTIALS[mode] / "admin.properties")
    expected = "PLAINTEXT" if mode == "plaintext" else "SASL_SSL"
    if protocol != expected:
        raise SystemExit(f"error: {mode}: {CREDENTIALS[mode]}/admin.properties has security.protocol={protocol!r}, "
                         f"expected {expected}")
    # A freshly started cluster is cold (JIT, page cache, services still settling): measured right
    # after its deploy, the secured one gave 18-29 % less than it did minutes later. One untimed
    # round of the producer benchmark warms both modes alike.
    run(f"{mode}: warm-up (not measured)", [PY, "bench/producer_bench.py", "--rounds", "1", "--out", str(mode_out / "warm-up")],
        mode_out / "warm-up.log", env)
    run(f"{mode}: producer benchmark", [PY, "bench/producer_bench.py", *PRODUCER_ARGS, "--out", str(mode_out)],
        mode_out / "producer.log", env)
    run(f"{mode}: sink benchmark", [PY, "bench/sink_bench.py", "--out", str(mode_out)], mode_out / "sink.log", env)


def security_protocol(path: Path) -> str:
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "security.protocol":
            return value.strip()
    return "PLAINTEXT"


def compare(out: Path) -> dict:
    producer = {m: json.loads((out / m / "producer.json").read_text()) for m in MODES}
    sink = {m: json.loads((out / m / "sink.json").read_text()) for m in MODES}
    rows = []
    for p in producer["plaintext"]:
        s = next(r for r in producer["secured"] if r["scenario"] == p["scenario"] and r["producer"] == p["producer"])
        rows.append({"benchmark": "producer", "case": f"{p['producer']}, {p['scenario']}",
                     "metric": "msgs_per_s", "plaintext": p["msgs_per_s"], "secured": s["msgs_per_s"],
                     "ratio": s["msgs_per_s"] / p["msgs_per_s"]})
        for metric in ("p50_ms", "p99_ms"):
            rows.append({"benchmark": "producer", "case": f"{p['producer']}, {p['scenario']}", "metric": metric,
                         "plaintext": p[metric], "secured": s[metric], "ratio": s[metric] / max(p[metric], 0.1)})
    e2e = {m: sink[m]["end_to_end"] for m in MODES}
    for metric in ("end_to_end_rate", "freshness_p50_ms", "freshness_p99_ms"):
        rows.append({"benchmark": "sink", "case": f"end to end at {e2e['secured']['rate_target']:,.0f}/s", "metric": metric,
                     "plaintext": e2e["plaintext"][metric], "secured": e2e["secured"][metric],
                     "ratio": e2e["secured"][metric] / max(e2e["plaintext"][metric], 0.1)})
    for p in sink["plaintext"]["sinks"]:
        s = next(x for x in sink["secured"]["sinks"] if x["sink"] == p["sink"])
        rows.append({"benchmark": "sink", "case": p["sink"], "metric": "records_per_s", "plaintext": p["records_per_s"],
                     "secured": s["records_per_s"], "ratio": s["records_per_s"] / p["records_per_s"]})
    ours = [r for r in rows if r["benchmark"] == "producer" and r["metric"] == "msgs_per_s" and r["case"].startswith("rastro")]
    worst = min(ours, key=lambda r: r["ratio"])
    # The goal is the producer's as deployed (its linger.ms default); the other lingers show how the
    # cost moves with the request size.
    deployed = next((r for r in ours if r["case"] == DEPLOYED_CASE), None)
    if deployed is None:
        raise SystemExit(f"error: no {DEPLOYED_CASE!r} row in the producer results (cases: {', '.join(r['case'] for r in ours)})")
    goals = {
        "producer_throughput_cost": 1 - deployed["ratio"], "producer_throughput_cost_case": deployed["case"],
        "producer_cost_within_15_percent": 1 - deployed["ratio"] <= MAX_COST,
        "producer_throughput_cost_max": 1 - worst["ratio"], "producer_throughput_cost_max_case": worst["case"],
        **{f"secured_{k}": e2e["secured"][k] for k in FRESHNESS_GOALS},
        "freshness_within_goals": all(e2e["secured"][k] <= v for k, v in FRESHNESS_GOALS.items()),
    }
    return {"rows": rows, "goals": goals}


def chart(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = result["rows"]
    panels = [("producer throughput (msgs/s)", [r for r in rows if r["benchmark"] == "producer" and r["metric"] == "msgs_per_s"]),
              ("end-to-end freshness (ms)", [r for r in rows if r["metric"].startswith("freshness")]),
              ("sink throughput (records/s)", [r for r in rows if r["metric"] == "records_per_s"])]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5), gridspec_kw={"width_ratios": [3, 1.2, 1.4]})
    for ax, (title, data) in zip(axes, panels):
        labels = [(r["case"] if r["benchmark"] == "producer" else r["case"] if r["metric"] == "records_per_s"
                   else r["metric"].replace("freshness_", "").replace("_ms", "")) for r in data]
        labels = [lab.replace("ProducerPerformance (Java)", "Java").replace("rastro (Python)", "rastro")
                  .replace(", ", "\n") for lab in labels]
        for j, (mode, colour) in enumerate((("plaintext", "#8d99ae"), ("secured", "#2a9d8f"))):
            xs = [i + (j - 0.5) * 0.38 for i in range(len(data))]
            bars = ax.bar(xs, [r[mode] for r in data], 0.38, label=mode, color=colour)
            ax.bar_label(bars, fmt="%.0f", fontsize=7)
        for i, r in enumerate(data):
            ax.annotate(f"x{r['ratio']:.2f}", (i, 0), xytext=(0, -2), textcoords="offset points", ha="center",
                        va="top", fontsize=7, color="#264653")
        ax.set_xticks(range(len(data)), labels, fontsize=7)
        ax.tick_params(axis="x", pad=12)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(top=ax.get_ylim()[1] * 1.15)
    axes[1].axhline(FRESHNESS_GOALS["freshness_p50_ms"], color="#2a9d8f", ls="--", lw=1, label="goal p50")
    axes[1].axhline(FRESHNESS_GOALS["freshness_p99_ms"], color="#e76f51", ls="--", lw=1, label="goal p99")
    axes[1].set_ylim(top=max(axes[1].get_ylim()[1], FRESHNESS_GOALS["freshness_p99_ms"] * 1.15))
    axes[1].legend(fontsize=7, loc="upper left")
    axes[0].legend(fontsize=8, loc="upper left")
    g = result["goals"]
    fig.suptitle(f"TLS + SCRAM against plaintext on the same lab hosts (secured/plaintext under each pair): producer "
                 f"x{1 - g['producer_throughput_cost']:.2f} of plaintext as deployed (goal >= x0.85; "
                 f"worst x{1 - g['producer_throughput_cost_max']:.2f}), secured freshness p50 "
                 f"{g['secured_freshness_p50_ms']:.0f} ms / p99 {g['secured_freshness_p99_ms']:.0f} ms (goals 50 / 250)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(result: dict, out: Path) -> None:
    (out / "security.json").write_text(json.dumps(result, indent=2) + "\n")
    with open(out / "security.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(result["rows"][0]))
        writer.writeheader()
        writer.writerows(result["rows"])
    chart(result, out / "security.png")
    print(f"\n{'benchmark':9s} {'case':50s} {'metric':18s} {'plaintext':>11s} {'secured':>11s} {'secured/plain':>13s}")
    for r in result["rows"]:
        print(f"{r['benchmark']:9s} {r['case']:50s} {r['metric']:18s} {r['plaintext']:11,.1f} {r['secured']:11,.1f} {r['ratio']:13.2f}")
    g = result["goals"]
    print(f"\nproducer throughput, secured/plaintext, as deployed: x{1 - g['producer_throughput_cost']:.2f} "
          f"({g['producer_throughput_cost_case']}): a cost of {max(g['producer_throughput_cost'], 0):.1%}; "
          f"goal <= 15 %: {'met' if g['producer_cost_within_15_percent'] else 'NOT met'}")
    print(f"the most it costs in any case: {g['producer_throughput_cost_max']:.1%} ({g['producer_throughput_cost_max_case']})")
    print(f"secured freshness at 10,000/s: p50 {g['secured_freshness_p50_ms']:.0f} ms, p99 {g['secured_freshness_p99_ms']:.0f} ms; "
          f"goals 50 / 250 ms: {'met' if g['freshness_within_goals'] else 'NOT met'}")
    print(f"\nwrote {out}/security.json, security.csv, security.png")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    ap.add_argument("--compare-only", action="store_true",
                    help="only compare the results already under OUT/security/<mode>/ (no deployment, no benchmark)")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                    help="measure only these modes (fresh deployment and both benchmarks each), then compare with "
                         "the other mode's results already under OUT/security/<mode>/")
    args = ap.parse_args()
    out = args.out.resolve()
    runs = out / "security"
    if not args.compare_only:
        if os.geteuid() != 0:
            print("error: the run rebuilds the lab hosts (lab/lab.sh), which needs root", file=sys.stderr)
            return 2
        for mode in args.modes:
            measure(mode, runs)
    missing = [str(runs / m / f) for m in MODES for f in ("producer.json", "sink.json") if not (runs / m / f).is_file()]
    if missing:
        print(f"error: no results to compare: {', '.join(missing)} missing", file=sys.stderr)
        return 2
    write(compare(runs), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
