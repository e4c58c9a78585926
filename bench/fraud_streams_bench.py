#!/usr/bin/python3
"""Kafka Streams against Python for the fraud decision path (`make bench-fraud-streams`), on the
deployed lab, in one run: the question docs/fraud.md answers with it is which one the decision
service is written in.

The same work both ways, exactly once, one process with one thread each, on this controller: read a
backlog of --backlog card transactions (JSON, keyed by card) from a topic of 12 partitions, look each
card, user and site up in three blocklists held whole in memory (compacted topics read from the
beginning; --listed cards on them), write one decision per transaction. Kafka Streams
(fraud-streams/: global tables, three left joins, exactly_once_v2, commit every 100 ms) against a
Python loop like rastro-fraud serve's (confluent-kafka: a Kafka transaction per batch of 500,
offsets sent in it). Then what the model adds on top in Python: the deployed model's scoring time
per transaction in batches of 500.

Everything runs as the bench principal on its own topics (bench-fraud-*). Writes
artifacts/bench/fraud-streams.{json,csv,png} and prints a table with the ratio."""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "producer"), str(REPO / "fraud")]

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from rastro_fraud.contract import format_timestamp  # noqa: E402
from rastro_fraud.service import next_batch  # noqa: E402
from tests.lib.lab import client_config_file, kafka_conf  # noqa: E402

OUT = REPO / "artifacts" / "bench"
APP = REPO / "fraud-streams" / "target" / "app"
PRINCIPAL = "bench"
KINDS = ("card", "user", "site")


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-fraud-streams] {msg}", flush=True)


def topics(run: str) -> dict[str, str]:
    return {"in": f"bench-fraud-{run}-in", "py": f"bench-fraud-{run}-out-python", "streams": f"bench-fraud-{run}-out-streams",
            **{k: f"bench-fraud-{run}-blocklist-{k}" for k in KINDS}}


def create(names: dict[str, str]) -> None:
    admin = AdminClient(kafka_conf(PRINCIPAL))
    new = [NewTopic(t, 12 if key in ("in", "py", "streams") else 3, 3,
                    config={"cleanup.policy": "compact"} if key in KINDS else {"retention.ms": "3600000"})
           for key, t in names.items()]
    for f in admin.create_topics(new).values():
        f.result()


def delete(names: dict[str, str]) -> None:
    admin = AdminClient(kafka_conf(PRINCIPAL))
    for f in admin.delete_topics(list(names.values())).values():
        try:
            f.result()
        except KafkaException:
            pass


def fill(names: dict[str, str], backlog: int, listed: int, cards: int) -> None:
    """--listed cards (and a tenth as many users and sites) on the blocklists, then the backlog."""
    p = Producer(kafka_conf(PRINCIPAL, **{"linger.ms": 20, "compression.type": "zstd", "acks": "all",
                                          "enable.idempotence": True}))
    rnd = random.Random(7)

    def put(topic: str, key: str, value: str) -> None:
        while True:
            try:
                p.produce(topic, key=key.encode(), value=value.encode())
                return
            except BufferError:
                p.poll(0.05)
    for i in range(listed):
        put(names["card"], f"c-{i * (cards // listed):06d}", json.dumps({"reason": "bench"}))
    for i in range(listed // 10):
        put(names["user"], f"u-{i * 97:06d}", json.dumps({"reason": "bench"}))
        put(names["site"], f"s-{i:05d}", json.dumps({"reason": "bench"}))
    now = format_timestamp(datetime.now(timezone.utc))
    for i in range(backlog):
        card = f"c-{rnd.randrange(cards):06d}"
        tx = {"timestamp": now, "transaction_id": f"t-{i}", "user_id": f"u-{rnd.randrange(cards):06d}", "card_id": card,
              "site_id": f"s-{rnd.randrange(1, 5000):05d}", "value": round(rnd.uniform(3, 120), 2),
              "location_id": "PT-LIS", "country": "PT"}
        put(names["in"], card, json.dumps(tx))
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(120):
        raise RuntimeError("the backlog was not acknowledged within 120 s")


def python_decider(names: dict[str, str], group: str, stop_after: int) -> None:
    """The Python side (run in its own process by --python-worker): the blocklists read to their end
    into dicts, then a Kafka transaction per batch of 500 (decisions + offsets), like rastro-fraud
    serve without the model."""
    conf = kafka_conf(PRINCIPAL)
    lists: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    reader = Consumer({**conf, "group.id": f"{group}-lists", "enable.auto.commit": False, "enable.partition.eof": True,
                       "isolation.level": "read_committed"})
    parts = []
    for k in KINDS:
        md = reader.list_topics(names[k], timeout=30).topics[names[k]]
        parts += [TopicPartition(names[k], p, 0) for p in md.partitions]
    reader.assign(parts)
    open_parts = {(tp.topic, tp.partition) for tp in parts}
    by_topic = {names[k]: k for k in KINDS}
    while open_parts:
        msg = reader.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            open_parts.discard((msg.topic(), msg.partition()))
            continue
        lists[by_topic[msg.topic()]][msg.key().decode()] = json.loads(msg.value()) if msg.value() else None
    reader.close()
    consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest"})
    producer = Producer({**conf, "transactional.id": f"{group}-0", "linger.ms": 5, "compression.type": "zstd"})
    producer.init_transactions(60)
    consumer.subscribe([names["in"]])
    done = 0
    while done < stop_after:
        msgs = [m for m in next_batch(consumer, 500, wait=0.2) if not m.error()]
        if not msgs:
            continue
        producer.begin_transaction()
        for m in msgs:
            tx = json.loads(m.value())
            reasons = [f"{k} {tx[f'{k}_id']} blocklisted: {lists[k][tx[f'{k}_id']]['reason']}"
                       for k in KINDS if lists[k].get(tx[f"{k}_id"])]
            decision = {"transaction_id": tx["transaction_id"], "card_id": tx["card_id"],
                        "transaction_timestamp": tx["timestamp"], "reasons": reasons,
                        "outcome": "DENIED_BLOCKLIST" if reasons else "APPROVED",
                        "decided_at": format_timestamp(datetime.now(timezone.utc))}
            producer.produce(names["py"], key=m.key(), value=json.dumps(decision, separators=(",", ":")).encode())
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 60)
        producer.commit_transaction(60)
        done += len(msgs)
    consumer.close()


def count_output(topic: str, expected: int, timeout: float) -> dict[str, Any]:
    """Read committed decisions from the topic's start, while the decider runs, until `expected`
    distinct transactions have one: duplicates, denied, and the rate between the first and the last
    decision's arrival here (wall clock: Kafka Streams stamps its output with the input's timestamp,
    so the records' own timestamps would measure the backlog's writing, not the deciding)."""
    c = Consumer(kafka_conf(PRINCIPAL, **{"group.id": f"bench-fraud-count-{time.time_ns()}", "enable.auto.commit": False,
                                          "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                          "fetch.max.bytes": 52428800}))
    c.subscribe([topic])
    seen: dict[str, int] = {}
    first: Optional[float] = None
    last = 0.0
    denied = 0
    deadline = time.time() + timeout
    while len(seen) < expected and time.time() < deadline:
        for m in c.consume(5000, timeout=1.0):
            if m.error():
                continue
            d = json.loads(m.value())
            tid = d["transaction_id"]
            seen[tid] = seen.get(tid, 0) + 1
            at = time.time()
            first = at if first is None else min(first, at)
            last = max(last, at)
            denied += d["outcome"] == "DENIED_BLOCKLIST"
    c.close()
    span = last - (first or last)
    return {"decided": len(seen), "decided_twice": sum(1 for n in seen.values() if n > 1), "denied": denied,
            "seconds": round(span, 2), "per_s": round(len(seen) / span, 1) if span else 0.0}


def run_python(names: dict[str, str], run: str, backlog: int) -> dict[str, Any]:
    log("Python: a Kafka transaction per batch of 500")
    worker = subprocess.Popen([sys.executable, __file__, "--python-worker", run, "--backlog", str(backlog)], cwd=REPO)
    try:
        result = count_output(names["py"], backlog, 900)
    finally:
        worker.wait(120)
    log(f"Python: {result['decided']:,} decided in {result['seconds']} s = {result['per_s']:,.0f}/s")
    return result


def run_streams(names: dict[str, str], run: str, backlog: int) -> dict[str, Any]:
    if not (APP / "rastro-fraud-streams-0.1.0.jar").exists():
        subprocess.run(["mvn", "-B", "-q", "-f", str(REPO / "fraud-streams" / "pom.xml"), "package", "-DskipTests"], check=True)
    log("Kafka Streams: exactly_once_v2, global tables")
    state = Path(f"/tmp/rastro-fraud-streams-{run}")
    app = subprocess.Popen(["java", "-Xmx512m", f"-DstateDir={state}", "-cp", f"{APP}/*", "rastro.fraud.streams.DecideApp",
                            str(client_config_file(PRINCIPAL)), f"bench-fraud-{run}-streams", names["in"], names["streams"],
                            f"bench-fraud-{run}-blocklist-"], cwd=REPO)
    try:
        result = count_output(names["streams"], backlog, 900)
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(60)
        subprocess.run(["rm", "-rf", str(state)])
    log(f"Kafka Streams: {result['decided']:,} decided in {result['seconds']} s = {result['per_s']:,.0f}/s")
    return result


def model_cost() -> dict[str, Any]:
    """The deployed model (make train) scoring batches of 500 feature vectors: µs per transaction."""
    import numpy as np
    from rastro_fraud.model import load
    models = REPO / "fraud" / "models"
    if not (models / "deployed").exists():
        return {"note": "no model deployed (make train)"}
    m = load(models)
    rnd = np.random.default_rng(7)
    batch = rnd.random((500, len(m.feature_names)))
    m.scores(batch)
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < 5:
        m.scores(batch)
        n += 500
    took = time.perf_counter() - started
    return {"version": m.version, "us_per_transaction": round(took / n * 1e6, 1), "per_s_one_core": round(n / took)}


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = ["Kafka Streams\n(exactly_once_v2)", "Python\n(a transaction per 500)"]
    values = [report["streams"]["per_s"], report["python"]["per_s"]]
    ax.bar(names, values, color=["tab:orange", "tab:blue"])
    if report["model"].get("per_s_one_core"):
        ax.axhline(report["model"]["per_s_one_core"], color="grey", linestyle="--",
                   label=f"model scoring alone, one core ({report['model']['per_s_one_core']:,}/s)")
        ax.legend()
    ax.set_ylabel("decisions/s, one process"), ax.set_title(f"Decision path without the model, {report['backlog']:,} transactions")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backlog", type=int, default=200000)
    ap.add_argument("--listed", type=int, default=10000, help="cards on the blocklist")
    ap.add_argument("--cards", type=int, default=100000)
    ap.add_argument("--python-worker", metavar="RUN", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.python_worker:
        python_decider(topics(args.python_worker), f"bench-fraud-{args.python_worker}-python", args.backlog)
        return 0
    for name in ("backlog", "listed", "cards"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be positive (got {getattr(args, name)})")
    run = datetime.now(timezone.utc).strftime("%Y%m%dt%H%M%S")
    names = topics(run)
    create(names)
    try:
        log(f"{args.backlog:,} transactions and {args.listed:,} listed cards into bench-fraud-{run}-*")
        fill(names, args.backlog, args.listed, args.cards)
        streams = run_streams(names, run, args.backlog)
        python = run_python(names, run, args.backlog)
    finally:
        delete(names)
    report = {"backlog": args.backlog, "listed": args.listed, "streams": streams, "python": python, "model": model_cost(),
              "ratio_python_to_streams": round(python["per_s"] / streams["per_s"], 2) if streams["per_s"] else None}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fraud-streams.json").write_text(json.dumps(report, indent=2) + "\n")
    with (OUT / "fraud-streams.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["implementation", "decided", "decided_twice", "denied", "seconds", "per_s"])
        for name in ("streams", "python"):
            r = report[name]
            w.writerow([name, r["decided"], r["decided_twice"], r["denied"], r["seconds"], r["per_s"]])
    chart(report, OUT / "fraud-streams.png")
    print(f"\n{'':<36}{'decided':>10}{'twice':>8}{'denied':>9}{'per s':>10}")
    for label, key in (("Kafka Streams (exactly_once_v2)", "streams"), ("Python (transaction per 500)", "python")):
        r = report[key]
        print(f"{label:<36}{r['decided']:>10,}{r['decided_twice']:>8}{r['denied']:>9,}{r['per_s']:>10,.0f}")
    print(f"Python / Kafka Streams: {report['ratio_python_to_streams']}")
    if report["model"].get("us_per_transaction"):
        print(f"the model in Python: {report['model']['us_per_transaction']} µs per transaction "
              f"({report['model']['per_s_one_core']:,}/s on one core)")
    print("artifacts/bench/fraud-streams.json, .csv, .png")
    ok = all(report[k]["decided"] == args.backlog and report[k]["decided_twice"] == 0 for k in ("streams", "python"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
