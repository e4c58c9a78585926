#!/usr/bin/python3
"""Chaos fraud prober: while chaos.yml breaks something (fraud-kill: a decision instance SIGKILLed
under load), send card transactions at a fixed rate to card-transactions as the fraud-client
principal, read fraud-decisions (read_committed) from before the first one, and count: transactions
acknowledged, decided once, decided more than once, not decided at all. Decision latency is the
decision record's timestamp (set when the service produced it) minus the moment the transaction was
sent: overall and for the transactions sent while the fault lasted. Writes fraud.json into
--report-dir.

The transactions are ordinary purchases on cards and at shops of their own (c-chaos-<run>-<n>,
s-chaos-<n>: the model's world's shops keep their own past for the tests): the question here
is exactly one decision each across the fault, not what the model makes of them."""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "producer"), str(REPO / "fraud")]

from confluent_kafka import KafkaError, Message, Producer  # noqa: E402
from chaos.probing import DecisionTail, percentile, read_fault  # noqa: E402

from rastro_fraud.contract import format_timestamp  # noqa: E402
from rastro_producer import kafka_config  # noqa: E402

TRANSACTIONS = "card-transactions"


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [fraud-prober] {msg}", flush=True)


class DecisionReader(threading.Thread):
    """A DecisionTail read in the background until `stop` is set."""

    def __init__(self, conf: dict[str, str], prefix: str) -> None:
        super().__init__(daemon=True)
        self.tail = DecisionTail(conf, prefix, f"fraud-client-prober-{prefix}")
        self.decided = self.tail.decided
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.tail.poll(0.5, limit=1000)
        self.tail.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--client-config", type=Path, required=True, help="credentials/<inventory>/kafka/fraud-client.properties")
    ap.add_argument("--seconds", type=float, required=True, help="how long to send")
    ap.add_argument("--rate", type=float, default=200, help="transactions/s")
    ap.add_argument("--cards", type=int, default=5000)
    ap.add_argument("--settle", type=float, default=180, help="seconds to wait after sending for the last decisions")
    ap.add_argument("--fault-file", type=Path, required=True)
    ap.add_argument("--report-dir", type=Path, required=True)
    args = ap.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.cards <= 0:
        ap.error(f"--rate, --seconds and --cards must be positive (got {args.rate}, {args.seconds}, {args.cards})")
    conf = kafka_config.load(args.client_config)
    run = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    prefix = f"chaos-{run}-"
    reader = DecisionReader(conf, prefix)
    reader.start()
    producer = Producer({**conf, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "compression.type": "zstd"})
    sent_at: dict[str, float] = {}
    acked: set[str] = set()
    failed: list[str] = []

    def delivered(tid: str, err: Optional[KafkaError], _msg: Message) -> None:
        if err:
            failed.append(f"{tid}: {err}")
        else:
            acked.add(tid)

    rnd = random.Random(run)
    log(f"{args.rate:.0f} transactions/s for {args.seconds:.0f} s on {args.cards} cards")
    start = time.time()
    i = 0
    next_report = start + 10
    while time.time() - start < args.seconds:
        wait = start + i / args.rate - time.time()
        if wait > 0:
            time.sleep(wait)
        tid = f"{prefix}{i:07d}"
        card = f"c-chaos-{run}-{rnd.randrange(args.cards):05d}"
        now = time.time()
        tx = {"timestamp": format_timestamp(datetime.fromtimestamp(now, timezone.utc)), "transaction_id": tid,
              "user_id": f"u-chaos-{card[-5:]}", "card_id": card, "site_id": f"s-chaos-{rnd.randrange(1, 51):03d}",
              "value": round(rnd.uniform(5, 80), 2), "location_id": "PT-LIS", "country": "PT"}
        while True:
            try:
                producer.produce(TRANSACTIONS, key=card.encode(), value=json.dumps(tx).encode(),
                                 on_delivery=functools.partial(delivered, tid))
                break
            except BufferError:
                producer.poll(0.05)
        sent_at[tid] = now
        producer.poll(0)
        i += 1
        if time.time() >= next_report:
            log(f"{i} sent, {len(acked)} acknowledged, {len(reader.decided)} decided")
            next_report += 10
    producer.flush(120)
    log(f"sending done: {i} sent, {len(acked)} acknowledged; waiting up to {args.settle:.0f} s for the decisions")
    deadline = time.time() + args.settle
    while time.time() < deadline and not acked <= set(reader.decided):
        time.sleep(1)
    time.sleep(3)  # a decision produced twice arrives close to the first: give it the chance
    reader.stop.set()
    reader.join(30)

    fault = read_fault(args.fault_file)
    injected, restored = fault.get("injected"), fault.get("restored")
    latencies = {t: reader.decided[t][0] / 1000 - s for t, s in sent_at.items() if t in reader.decided}
    during = [ms * 1000 for t, ms in latencies.items()
              if injected and sent_at[t] >= injected and (not restored or sent_at[t] <= restored)]
    every = [v * 1000 for v in latencies.values()]
    missing = sorted(acked - set(reader.decided))
    twice = reader.tail.twice()
    report = {
        "sent": i, "acknowledged": len(acked), "failed": len(failed), "failures": failed[:10],
        "decided": len(set(reader.decided) & acked), "undecided": len(missing), "undecided_examples": missing[:10],
        "decided_twice": len(twice), "decided_twice_examples": twice[:10],
        "outcomes": dict(reader.tail.outcomes), "rate": round(i / max(args.seconds, 1e-9), 1),
        "latency_ms": {"p50": percentile(every, 0.5), "p90": percentile(every, 0.9), "p99": percentile(every, 0.99), "max": percentile(every, 1.0)},
        "latency_during_fault_ms": {"p50": percentile(during, 0.5), "p90": percentile(during, 0.9), "p99": percentile(during, 0.99),
                                    "max": percentile(during, 1.0)},
        "fault": {k: fault.get(k) for k in ("fault", "target", "injected", "restored")},
    }
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "fraud.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"{report['acknowledged']} acknowledged: {report['decided']} decided, {report['undecided']} undecided, "
        f"{report['decided_twice']} decided twice; latency p50 {report['latency_ms']['p50']} ms, p99 "
        f"{report['latency_ms']['p99']} ms (during the fault p99 {report['latency_during_fault_ms']['p99']} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
