#!/usr/bin/python3
"""Sink benchmark on the lab, in one run:

1. End to end at a fixed rate (default 10,000 updates/s for 30 s) through driver-locations, Kafka
   Connect and the rastro Redis sink: sustained rate (produced → visible in Redis) and freshness —
   the time from an update's timestamp (stamped when it is produced) until Redis holds it, sampled
   by a separate process polling a few hundred drivers.
2. Sink throughput on the same pre-filled records: the rastro sink as deployed (pipelined,
   redis.batch.size=500) against a per-record sink (redis.batch.size=1, one round trip per update,
   how a naive sink writes). jcustenborder's kafka-connect-redis, the peer the issue names, is not
   served by the Maven Central reachable here (404), so it cannot be measured.

Writes artifacts/bench/sink.{json,csv,png} and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import multiprocessing as mp
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "producer"))

import redis  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from rastro_producer.contract import GEO_KEYS, format_timestamp  # noqa: E402
from rastro_producer.sender import Sender  # noqa: E402
from rastro_producer.simulator import Simulator, start_of  # noqa: E402
from tests.lib.connect import rest  # noqa: E402
from rastro_producer.kafka_config import redis_sentinels  # noqa: E402
from tests.lib.lab import BOOTSTRAP, CREDENTIALS, kafka_conf, redis_admin, ssh  # noqa: E402

# The benchmarks' own principal (docs/contracts.md): its bench-* topics and driver-locations.
KAFKA = kafka_conf("bench")


@functools.cache
def redis_conf() -> dict:
    """The primary now (found through the Sentinels), as the admin user; asked once, when first needed."""
    return {**redis_admin(), "decode_responses": True}


def sentinels() -> list[tuple[str, int]]:
    """The Sentinels the bench connectors ask where the primary is."""
    return redis_sentinels(CREDENTIALS / "redis-admin.properties")[0]


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-sink] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def poller(drivers: list[str], stop_at: float, out: "mp.Queue") -> None:
    """Polls the sampled drivers' timestamps; each new timestamp seen gives one freshness sample."""
    r = redis.Redis(**redis_conf())
    last: dict[str, str] = {}
    samples: list[float] = []
    while time.time() < stop_at:
        pipe = r.pipeline(transaction=False)
        for d in drivers:
            pipe.hget(f"driver:{d}", "timestamp")
        values = pipe.execute()
        now = time.time()
        for d, ts in zip(drivers, values):
            if ts and ts != last.get(d):
                if d in last:  # the first sighting may predate the run
                    stamped = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
                    samples.append((now - stamped) * 1000)
                last[d] = ts
        time.sleep(0.002)
    out.put(samples)


def end_to_end(rate: float, seconds: float, drivers: int, sample: int) -> dict:
    sim = Simulator(drivers, seed=31)
    prefix = f"fb{uuid.uuid4().hex[:5]}-"
    for d in sim.drivers:
        d.driver_id = prefix + d.driver_id
    watched = [d.driver_id for d in sim.drivers[:: max(1, drivers // sample)]][:sample]
    total = int(rate * seconds)
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=poller, args=(watched, time.time() + seconds + 15, queue))
    proc.start()
    # The producer as deployed (its defaults, linger.ms=30): see the comment on linger in sender.py.
    sender = Sender(BOOTSTRAP, "driver-locations", extra=KAFKA)
    start = time.monotonic()
    for i in range(total):
        while i > (time.monotonic() - start) * rate:
            sender.poll(0.001)
        key, update = sim.step(i % drivers, int(time.time() * 1000))
        sender.send(key, update)
        if i % 200 == 0:
            sender.poll(0)
    assert sender.flush(60) == 0 and sender.stats.failed == 0
    produced_s = time.monotonic() - start
    # Sustained rate: all updates produced and the last one of each watched driver visible.
    r = redis.Redis(**redis_conf())
    watched_set = set(watched)
    final = {d.driver_id: d.last_ts_ms for d in sim.drivers if d.driver_id in watched_set}
    while time.monotonic() - start < produced_s + 60:
        pipe = r.pipeline(transaction=False)
        for d in final:
            pipe.hget(f"driver:{d}", "timestamp")
        got = pipe.execute()
        if all(ts and datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp() * 1000
               >= final[d] for d, ts in zip(final, got)):
            break
        time.sleep(0.01)
    visible_s = time.monotonic() - start
    samples = queue.get(timeout=120)
    proc.join()
    cleanup(r, f"driver:{prefix}*", prefix)
    return {"rate_target": rate, "updates": total, "produce_rate": total / produced_s,
            "end_to_end_rate": total / visible_s, "freshness_samples": len(samples),
            "freshness_p50_ms": pct(samples, 0.5), "freshness_p99_ms": pct(samples, 0.99),
            "freshness_max_ms": max(samples) if samples else float("nan")}


def cleanup(r: redis.Redis, key_pattern: str, member_prefix: str) -> None:
    """Leave Redis as the pipeline's own drivers had it."""
    for k in r.scan_iter(match=key_pattern, count=5000):
        r.unlink(k)
    for key in GEO_KEYS.values():
        members = [m for m in r.zrange(key, 0, -1) if m.startswith(member_prefix)]
        for i in range(0, len(members), 1000):
            r.zrem(key, *members[i:i + 1000])


def prefill(topic: str, prefix: str, records: int, drivers: int) -> dict[int, str]:
    """`records` updates over `drivers` drivers (each driver once per round), then one marker per
    partition, written last: when every marker is in Redis, a sink has drained the topic."""
    from rastro_producer.partitioning import partition_for
    log(f"pre-filling {topic} with {records:,} updates over {drivers:,} drivers")
    sim = Simulator(drivers, seed=8, id_prefix=f"{prefix}-")
    sender = Sender(BOOTSTRAP, topic, extra=KAFKA, on_ack=lambda m: None)
    for key, update in sim.rounds(start_of(None), records):
        sender.send(key, update)
        sender.poll(0)
    markers: dict[int, str] = {}
    i = 0
    while len(markers) < 12:
        key = f"{prefix}-marker-{i}"
        markers.setdefault(partition_for(key, 12), key)
        i += 1
    # Stamped now: a marker's key is its own, and an update ahead of the clock is refused.
    marked_at = format_timestamp(datetime.now(timezone.utc))
    for key in markers.values():
        sender.send(key, {"driver_id": key, "latitude": 0.0, "longitude": 0.0, "timestamp": marked_at, "status": "offline"})
    assert sender.flush(60) == 0 and sender.stats.failed == 0
    return markers


def sink_throughput(label: str, batch: int, topic: str, prefix: str, markers: dict[int, str], count: int,
                    extra: dict[str, str] | None = None, window: Callable[[str], None] | None = None) -> dict:
    """Records/s of a bench connector draining `topic`; `window("start")` and `window("end")` are
    called when the timed part starts (the first key written) and ends (every marker in Redis)."""
    r = redis.Redis(**redis_conf())
    name = f"bench-{label}-{uuid.uuid4().hex[:4]}"
    config = {
        "connector.class": "io.rastro.connect.redis.RedisSinkConnector", "tasks.max": "3", "topics": topic,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        # As the deployed redis-sink: the primary through the Sentinels, each batch on a replica (WAIT 1).
        "redis.sentinels": ",".join(f"{h}:{p}" for h, p in sentinels()), "redis.user": "connect",
        "redis.wait.replicas": "1",
        # The bench topics are throw-away: no cache markers of theirs in drivers:replay.
        "cache.replay.enabled": "false",
        "redis.password": "${file:/etc/kafka-connect/secrets.properties:redis.password}",
        # As the deployed redis-sink (files/connectors/redis-sink.json.j2): TLS when Redis has it.
        "redis.tls.enabled": str(bool(redis_conf().get("ssl"))).lower(),
        "redis.tls.ca.file": "/etc/rastro/tls/ca.pem" if redis_conf().get("ssl") else "",
        "redis.key.prefix": f"driver:{prefix}{label}:", "redis.geo.key": "drivers:geo",
        "redis.batch.size": str(batch), **(extra or {}),
    }
    baseline = r.dbsize()
    start = time.monotonic()
    rest("PUT", f"/connectors/{name}/config", config)
    try:
        # Timed from the first key the sink writes (task start-up and group join are not sink
        # throughput) to the moment the last partition's marker is in Redis.
        first = None
        keys = [f"driver:{prefix}{label}:{m}" for m in markers.values()]
        checked = start
        while time.monotonic() - start < 600:
            if time.monotonic() - checked > 3:
                checked = time.monotonic()
                failed = [t for t in rest("GET", f"/connectors/{name}/status")["tasks"] if t["state"] == "FAILED"]
                if failed:
                    raise RuntimeError(f"{name}: task {failed[0]['id']} FAILED: {failed[0].get('trace', '')[:500]}")
            if first is None and r.dbsize() > baseline:
                first = time.monotonic()
                if window:
                    window("start")
            if r.exists(*keys) == len(keys):
                if window:
                    window("end")
                break
            time.sleep(0.02)
        elapsed = time.monotonic() - (first or start)
    finally:
        rest("DELETE", f"/connectors/{name}")
        cleanup(r, f"driver:{prefix}{label}:*", prefix)
    return {"sink": label, "redis_batch_size": batch, "records": count, "seconds": elapsed,
            "startup_s": (first or start) - start, "records_per_s": count / elapsed}


def chart(e2e: dict, sinks: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    bars = a.bar(["p50", "p99"], [e2e["freshness_p50_ms"], e2e["freshness_p99_ms"]], color=["#2a9d8f", "#e9c46a"])
    a.bar_label(bars, fmt="%.0f ms")
    a.axhline(50, color="#2a9d8f", ls="--", lw=1, label="goal p50 50 ms")
    a.axhline(250, color="#e76f51", ls="--", lw=1, label="goal p99 250 ms")
    a.set_title(f"freshness at {e2e['rate_target']:,.0f} updates/s (end-to-end {e2e['end_to_end_rate']:,.0f}/s)", fontsize=10)
    a.legend(fontsize=8)
    bars = b.bar([s["sink"] for s in sinks], [s["records_per_s"] for s in sinks], color=["#2a9d8f", "#e76f51"])
    b.bar_label(bars, fmt="%.0f/s")
    b.set_title("sink throughput, same records (higher is better)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=10_000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--drivers", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=300, help="drivers the freshness poller watches")
    ap.add_argument("--records", type=int, default=200_000, help="records for the throughput comparison")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    log("stopping the producer service so only the benchmark writes")
    ssh("kafka1", "systemctl stop rastro-producer")
    try:
        log(f"end to end: {args.rate:,.0f} updates/s for {args.seconds:g}s over {args.drivers} drivers")
        e2e = end_to_end(args.rate, args.seconds, args.drivers, args.sample)
        log(f"  {e2e}")

        admin = AdminClient(KAFKA)
        topic = f"bench-sink-{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(topic, 12, 3, config={"min.insync.replicas": "2", "retention.ms": "3600000"})])[topic].result(30)
        prefix = f"sb{uuid.uuid4().hex[:4]}"
        markers = prefill(topic, prefix, args.records, 5000)
        sinks = []
        for label, batch in (("rastro pipelined (batch 500)", 500), ("per-record (batch 1)", 1)):
            short = "pipelined" if batch > 1 else "per-record"
            log(f"sink throughput: {label}")
            res = sink_throughput(short, batch, topic, prefix, markers, args.records + 12)
            res["sink"] = label
            sinks.append(res)
            log(f"  {res}")
        admin.delete_topics([topic])[topic].result(30)
    finally:
        ssh("kafka1", "systemctl start rastro-producer")

    (args.out / "sink.json").write_text(json.dumps({"end_to_end": e2e, "sinks": sinks}, indent=2))
    with open(args.out / "sink.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["metric", "value"])
        for k, v in e2e.items():
            w.writerow([f"end_to_end.{k}", v])
        for s in sinks:
            w.writerow([f"sink.{s['sink']}.records_per_s", s["records_per_s"]])
    chart(e2e, sinks, args.out / "sink.png")
    print(f"\nend to end at {e2e['rate_target']:,.0f}/s: produced {e2e['produce_rate']:,.0f}/s, "
          f"visible in Redis {e2e['end_to_end_rate']:,.0f}/s")
    print(f"freshness: p50 {e2e['freshness_p50_ms']:.0f} ms (goal 50), p99 {e2e['freshness_p99_ms']:.0f} ms (goal 250), "
          f"{e2e['freshness_samples']} samples")
    print(f"\n{'sink':32s} {'records/s':>10s}")
    for s in sinks:
        print(f"{s['sink']:32s} {s['records_per_s']:10,.0f}")
    print(f"ratio pipelined/per-record: {sinks[0]['records_per_s'] / sinks[1]['records_per_s']:.2f}")
    print(f"\nwrote {args.out}/sink.json, sink.csv, sink.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
