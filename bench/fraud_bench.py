#!/usr/bin/python3
"""The fraud decision service on the deployed lab (`make bench-fraud`), with the driver pipeline
running at its normal rate (the producer service), in one run:

1. Scaling: with 1, 2 and 3 decision instances running (the others stopped), a backlog of --backlog
   transactions is written while no instance decides, then the instances start: decisions/s from
   the first decision to the last is what that many instances can do. Beside it, the ceiling of a
   plain Python consumer on this machine: the same backlog read (read_committed, no scoring, no
   transaction), so the ratio says what scoring and exactly-once cost.
2. The soak: every instance running, --rate transactions/s (default 10,000) offered for --seconds
   (default 300) as the fraud-client principal. Decision latency is the decision record's timestamp
   (taken when the service produced it) minus the transaction's `timestamp` (when the bench sent it):
   p50/p90/p99 over the run and per 5 s; decisions/s; transactions waiting (acknowledged, not yet
   decided) every second. Then up to --drain seconds for the rest, and the count of transactions
   without a decision and with two.

Writes artifacts/bench/fraud.{json,csv,png} and prints a table with the goals (p50 ≤ 50 ms, p99 ≤
500 ms, 0 undecided, 0 decided twice) beside what was measured."""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "producer"), str(REPO / "fraud")]

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition  # noqa: E402

from chaos.probing import DecisionTail, percentile  # noqa: E402
from rastro_fraud.contract import epoch, format_timestamp  # noqa: E402
from tests.lib.lab import fraud_health, inventory_groups, kafka_conf, ssh, wait_until  # noqa: E402

OUT = REPO / "artifacts" / "bench"
TRANSACTIONS = "card-transactions"
CLIENT = "fraud-client"
GOALS = {"p50_ms": 50.0, "p99_ms": 500.0}


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-fraud] {msg}", flush=True)


# -- sending ---------------------------------------------------------------------------------------
def send(prefix: str, rate: float, count: int, cards: int, acked: Any, done: Any) -> None:
    """`count` transactions at `rate`/s (0: as fast as the producer goes), ids <prefix><n>; the
    acknowledged count in `acked`. Runs in its own process: the reader keeps the other core."""
    producer = Producer(kafka_conf(CLIENT, **{"acks": "all", "enable.idempotence": True, "linger.ms": 5,
                                              "compression.type": "zstd", "queue.buffering.max.messages": 500000}))
    rnd = random.Random(prefix)
    ok = [0]

    def delivered(err: Optional[KafkaError], _msg: Any) -> None:
        if err is None:
            ok[0] += 1

    start = time.time()
    for i in range(count):
        if rate:
            wait = start + i / rate - time.time()
            if wait > 0:
                time.sleep(wait)
        card = f"c-bench-{rnd.randrange(cards):06d}"
        tx = {"timestamp": format_timestamp(datetime.now(timezone.utc)), "transaction_id": f"{prefix}{i}",
              "user_id": f"u-bench-{card[-6:]}", "card_id": card, "site_id": f"s-bench-{rnd.randrange(1, 201):03d}",
              "value": round(rnd.uniform(3, 120), 2), "location_id": "PT-LIS", "country": "PT"}
        while True:
            try:
                producer.produce(TRANSACTIONS, key=card.encode(), value=json.dumps(tx).encode(), on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
            acked.value = ok[0]
    producer.flush(120)
    acked.value = ok[0]
    done.value = 1


class Reader:
    """A DecisionTail of the bench's transactions: each first decision's latency (ms) and time (s)."""

    def __init__(self, prefix: str) -> None:
        self.tail = DecisionTail(kafka_conf(CLIENT), prefix, f"fraud-client-bench-{prefix}")
        self.decided = self.tail.decided  # transaction id -> its decisions' timestamps
        self.latency_ms: list[float] = []
        self.decided_at: list[float] = []

    def poll(self, timeout: float) -> int:
        first = self.tail.poll(timeout)
        for d, at_ms in first:
            self.latency_ms.append(at_ms - epoch(d["transaction_timestamp"]) * 1000)
            self.decided_at.append(at_ms / 1000)
        return len(first)

    def twice(self) -> int:
        return len(self.tail.twice())

    def close(self) -> None:
        self.tail.close()


def run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")


# -- the decision instances ------------------------------------------------------------------------
def instances(hosts: list[str], n: int) -> None:
    """Exactly the first n hosts run rastro-fraud; wait until they answer /healthz ok."""
    for i, host in enumerate(hosts):
        ssh(host, f"systemctl {'start' if i < n else 'stop'} rastro-fraud")
    if n:
        def healthy(host: str) -> bool:
            try:
                return fraud_health(host, timeout=5)["status"] == "ok"
            except OSError:
                return False
        wait_until(lambda: all(healthy(h) for h in hosts[:n]), 180, what=f"{n} decision instances healthy")


def scaling(hosts: list[str], backlog: int, cards: int, most: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(1, min(most, len(hosts)) + 1):
        instances(hosts, 0)
        prefix = f"bench-{run_id()}-n{n}-"
        reader = Reader(prefix)
        acked, done = mp.Value("l", 0), mp.Value("i", 0)
        log(f"scaling: {backlog:,} transactions written while no instance decides")
        sender = mp.Process(target=send, args=(prefix, 0, backlog, cards, acked, done))
        sender.start()
        sender.join()
        started = time.time()
        instances(hosts, n)
        log(f"scaling: {n} instance(s) started ({time.time() - started:.0f} s to healthy); deciding the backlog")
        deadline = time.time() + 600
        while len(reader.decided) < acked.value and time.time() < deadline:
            reader.poll(1.0)
        reader.close()
        decided = len(reader.decided)
        span = (max(reader.decided_at) - min(reader.decided_at)) if reader.decided_at else 0.0
        rate = round(decided / span, 1) if span else 0.0
        rows.append({"instances": n, "backlog": acked.value, "decided": decided, "seconds": round(span, 1),
                     "decisions_per_s": rate, "decided_twice": reader.twice()})
        log(f"scaling: {n} instance(s): {decided:,} decided in {span:.1f} s = {rate:,.0f}/s")
    return rows


def plain_consumer_ceiling(count: int) -> dict[str, Any]:
    """A bare Python consumer (read_committed) reading the last `count` transactions:
    what one process here reads without scoring or transactions."""
    # fraud-client may not read card-transactions (terminals only write it): the admin reads here.
    c = Consumer(kafka_conf("admin", **{"group.id": f"bench-fraud-ceiling-{run_id()}", "enable.auto.commit": False,
                                       "isolation.level": "read_committed", "fetch.max.bytes": 52428800}))
    md = c.list_topics(TRANSACTIONS, timeout=30).topics[TRANSACTIONS]
    parts = []
    per = count // len(md.partitions) + 1
    for p in md.partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(TRANSACTIONS, p), timeout=10)
        parts.append(TopicPartition(TRANSACTIONS, p, max(lo, hi - per)))
    c.assign(parts)
    n, started = 0, time.time()
    while n < count and time.time() - started < 120:
        for msg in c.consume(5000, timeout=1.0):
            if not msg.error():
                json.loads(msg.value())
                n += 1
    took = time.time() - started
    c.close()
    return {"read": n, "seconds": round(took, 1), "per_s": round(n / took, 1)}


def soak(rate: float, seconds: float, cards: int, drain: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    prefix = f"bench-{run_id()}-soak-"
    reader = Reader(prefix)
    total = int(rate * seconds)
    acked, done = mp.Value("l", 0), mp.Value("i", 0)
    log(f"soak: {rate:,.0f} transactions/s for {seconds:.0f} s ({total:,}), every instance running")
    sender = mp.Process(target=send, args=(prefix, rate, total, cards, acked, done))
    started = time.time()
    sender.start()
    timeline: list[dict[str, Any]] = []
    next_sample = started + 1
    while not done.value or (len(reader.decided) < acked.value and time.time() < started + seconds + drain):
        reader.poll(0.2)
        now = time.time()
        if now >= next_sample:
            t = int(now - started)
            recent = [lat for lat, at in zip(reader.latency_ms[-20000:], reader.decided_at[-20000:]) if at >= now - 5]
            timeline.append({"t": t, "acknowledged": acked.value, "decided": len(reader.decided),
                             "waiting": max(acked.value - len(reader.decided), 0), "p99_5s_ms": percentile(recent, 0.99)})
            if t % 15 == 0:
                log(f"soak t={t:>4} s: {acked.value:,} acknowledged, {len(reader.decided):,} decided, "
                    f"{timeline[-1]['waiting']:,} waiting, p99 (last 5 s) {timeline[-1]['p99_5s_ms']} ms")
            next_sample += 1
    sender.join(30)
    reader.poll(2.0)
    reader.close()
    in_run = [at for at in reader.decided_at if at <= started + seconds]
    result = {
        "offered_per_s": rate, "seconds": seconds, "sent": total, "acknowledged": acked.value,
        "decided": len(reader.decided), "undecided": acked.value - len(reader.decided),
        "decided_twice": reader.twice(),
        "decisions_per_s_during_run": round(len(in_run) / seconds, 1),
        "latency_ms": {q: percentile(reader.latency_ms, v) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))},
        "max_waiting": max((r["waiting"] for r in timeline), default=0),
        "drained_after_s": next((round(r["t"] - seconds, 1) for r in timeline if r["t"] >= seconds and r["waiting"] == 0), None),
    }
    return result, timeline


def chart(result: dict[str, Any], timeline: list[dict[str, Any]], scale: list[dict[str, Any]], ceiling: dict[str, Any],
          path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(17, 5))
    ts = [r["t"] for r in timeline]
    a.plot(ts, [r["waiting"] for r in timeline], label="waiting for a decision")
    a.axvline(result["seconds"], color="grey", linestyle=":", label="sending ends")
    a.set_xlabel("s"), a.set_ylabel("transactions"), a.legend(), a.set_title(
        f"Soak: {result['offered_per_s']:,.0f}/s offered, {result['decisions_per_s_during_run']:,.0f}/s decided")
    b.plot(ts, [r["p99_5s_ms"] or 0 for r in timeline], color="tab:red", label="p99 of the last 5 s")
    b.axhline(GOALS["p99_ms"], color="grey", linestyle="--", label="goal p99 500 ms")
    b.set_yscale("symlog"), b.set_xlabel("s"), b.set_ylabel("ms"), b.legend(), b.set_title("Decision latency")
    names = [f"{r['instances']} instance{'s' if r['instances'] > 1 else ''}" for r in scale] + ["plain consumer\n(no scoring)"]
    values = [r["decisions_per_s"] for r in scale] + [ceiling["per_s"]]
    c.bar(names, values, color=["tab:blue"] * len(scale) + ["tab:grey"])
    c.axhline(10000, color="grey", linestyle="--", label="goal 10,000/s")
    c.set_ylabel("transactions/s"), c.legend(), c.set_title("Throughput by instances, and the ceiling")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=10000, help="transactions/s offered in the soak")
    ap.add_argument("--seconds", type=float, default=300, help="length of the soak")
    ap.add_argument("--drain", type=float, default=300, help="seconds after the soak for the last decisions")
    ap.add_argument("--backlog", type=int, default=60000, help="transactions per scaling step")
    ap.add_argument("--cards", type=int, default=100000)
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--instances", type=int, default=3, help="the scaling steps go from 1 to this many instances")
    ap.add_argument("--skip-soak", action="store_true", help="only the scaling steps and the plain consumer")
    args = ap.parse_args()
    for name in ("rate", "seconds", "backlog", "cards", "instances"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be positive (got {getattr(args, name)})")
    hosts = inventory_groups().get("fraud", [])
    if not hosts:
        ap.error("the inventory has no hosts in group fraud (deploy playbooks/fraud.yml first)")
    OUT.mkdir(parents=True, exist_ok=True)
    scale: list[dict[str, Any]] = []
    try:
        if not args.skip_scaling:
            scale = scaling(hosts, args.backlog, args.cards, args.instances)
        ceiling = plain_consumer_ceiling(args.backlog)
        log(f"ceiling: a plain consumer read {ceiling['read']:,} in {ceiling['seconds']} s = {ceiling['per_s']:,.0f}/s")
    finally:
        instances(hosts, len(hosts))
    if args.skip_soak:
        for r in scale:
            log(f"{r['instances']} instance(s): {r['decisions_per_s']:,.0f}/s, decided twice {r['decided_twice']}; "
                f"a plain consumer {ceiling['per_s']:,.0f}/s")
        return 0 if all(r["decided_twice"] == 0 and r["decided"] == r["backlog"] for r in scale) else 1
    result, timeline = soak(args.rate, args.seconds, args.cards, args.drain)
    report = {"soak": result, "scaling": scale, "plain_consumer": ceiling, "goals": GOALS, "instances": hosts}
    (OUT / "fraud.json").write_text(json.dumps(report, indent=2) + "\n")
    with (OUT / "fraud.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(timeline[0]) if timeline else ["t"])
        w.writeheader()
        w.writerows(timeline)
    chart(result, timeline, scale, ceiling, OUT / "fraud.png")
    lat = result["latency_ms"]
    print(f"\n{'measure':<44}{'goal':>14}{'measured':>16}")
    print(f"{'offered / decided during the run (per s)':<44}{args.rate:>14,.0f}{result['decisions_per_s_during_run']:>16,.0f}")
    print(f"{'decision latency p50 (ms)':<44}{GOALS['p50_ms']:>14,.0f}{lat['p50'] or 0:>16,.1f}")
    print(f"{'decision latency p90 (ms)':<44}{'':>14}{lat['p90'] or 0:>16,.1f}")
    print(f"{'decision latency p99 (ms)':<44}{GOALS['p99_ms']:>14,.0f}{lat['p99'] or 0:>16,.1f}")
    print(f"{'most transactions waiting':<44}{'':>14}{result['max_waiting']:>16,}")
    print(f"{'without a decision / decided twice':<44}{'0 / 0':>14}{result['undecided']:>9,} / {result['decided_twice']:,}")
    for r in scale:
        ratio = r["decisions_per_s"] / scale[0]["decisions_per_s"] if scale and scale[0]["decisions_per_s"] else 0
        print(f"{r['instances']} instance(s): {r['decisions_per_s']:>10,.0f}/s  (x{ratio:.2f} of one; "
              f"{r['decisions_per_s'] / ceiling['per_s']:.0%} of a plain consumer's {ceiling['per_s']:,.0f}/s)")
    print(f"\nartifacts/bench/fraud.json, fraud.csv, fraud.png")
    return 0 if result["undecided"] == 0 and result["decided_twice"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
