#!/usr/bin/python3
"""Chaos verifier: while chaos.yml breaks something, write driver updates at a fixed rate with
acks=all and remember every acknowledged (key, value, partition, offset); afterwards read the topic
back and check every acknowledged update is there, and that Redis holds the latest acknowledged
update of every driver. Measures the produce unavailability window, p99 produce latency during the
fault, the time until under-replicated partitions return to 0 after the restore, and the time until
Redis has converged. Writes report.json (and timeline.png via timeline.py) into --report-dir.

The fault's timing comes from --fault-file, which chaos.yml writes as it acts:
{"fault": ..., "target": ..., "injected": epoch, "restored": epoch}."""

from __future__ import annotations

import argparse
import gc
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "producer"))

import redis  # noqa: E402
from confluent_kafka import OFFSET_END, Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

from rastro_producer import monitoring  # noqa: E402
from rastro_producer.contract import serialize  # noqa: E402
from rastro_producer.kafka_config import ClientConfigError, load, redis_client  # noqa: E402
from rastro_producer.sender import Sender  # noqa: E402
from rastro_producer.simulator import Simulator  # noqa: E402


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [verifier] {msg}", flush=True)


@dataclass
class Ack:
    at: float          # wall clock of the acknowledgement
    latency: float     # seconds from produce() to acknowledgement
    key: bytes
    value: bytes
    partition: int
    offset: int


@dataclass
class Run:
    acks: list[Ack] = field(default_factory=list)
    failed: int = 0
    urp: list[tuple[float, int]] = field(default_factory=list)   # (time, under-replicated partitions)
    active_ids: list[str] = field(default_factory=list)
    idle_ids: list[str] = field(default_factory=list)
    # (time, newest timestamp among a sample of active drivers in Redis, idle drivers present in Redis)
    redis_samples: list[tuple[float, Optional[str], int]] = field(default_factory=list)


IDLE_CHUNK = 1000
# A chunk this close to whole is asked key by key from then on: the last keys back are found the
# round they come back, without asking 1,000 keys per chunk each round to the end.
IDLE_FEW = 50


def sample_redis(r: Any, run: Run, stop: threading.Event) -> None:
    """About four times a second: the newest timestamp of 200 active drivers (it stops moving while the
    sink cannot write) and how many of the idle drivers Redis holds (after a wipe: until the replay).
    While none has gone, one 1,000-key chunk of the idle drivers a round, in turn, is counted with one
    EXISTS to watch for the wipe. Once some have gone, every chunk still short is counted each round;
    a chunk short of at most IDLE_FEW keys is then asked key by key, once, and only its missing keys
    after that. A round that took long is followed by a longer wait (at most 2 s): asking for all
    100,000 twice a second took the verifier's own producer the CPU it needed for 5,000 updates/s."""
    sample = run.active_ids[:: max(len(run.active_ids) // 200, 1)]
    chunks = [[f"driver:{d}" for d in run.idle_ids[i:i + IDLE_CHUNK]] for i in range(0, len(run.idle_ids), IDLE_CHUNK)]
    # Once any idle driver has gone: (keys, by_key) for each chunk still short of keys; by_key chunks
    # are asked one EXISTS per key and shrink to their missing keys.
    short: Optional[list[tuple[list[str], bool]]] = None
    turn = 0
    while not stop.is_set():
        began = time.monotonic()
        try:
            pipe = r.pipeline(transaction=False)
            for d in sample:
                pipe.hget(f"driver:{d}", "timestamp")
            if short is not None:
                asked = short
            else:  # watching for the wipe: one chunk a round, in turn
                asked = [(chunks[turn % len(chunks)], False)] if chunks else []
                turn += 1
            for keys, by_key in asked:
                if by_key:
                    for key in keys:
                        pipe.exists(key)
                else:
                    pipe.exists(*keys)
            out = pipe.execute()
            stamps = [t for t in out[:len(sample)] if t]
            replies = iter(out[len(sample):])
            still: list[tuple[list[str], bool]] = []
            gone = 0
            for keys, by_key in asked:
                if by_key:
                    missing = [key for key in keys if not next(replies)]
                    gone += len(missing)
                    if missing:
                        still.append((missing, True))
                else:
                    lacking = len(keys) - next(replies)
                    gone += lacking
                    if lacking:
                        still.append((keys, lacking <= IDLE_FEW))
            present: Optional[int] = len(run.idle_ids) - gone
            if short is None and gone:
                short = [(keys, False) for keys in chunks]  # some have gone: count them all from the next round on
                present = None
            elif short is not None:
                short = still or None
            if present is not None:
                run.redis_samples.append((time.time(), max(stamps) if stamps else None, present))
            wait = min(2.0, max(0.25, 2 * (time.monotonic() - began)))
        except Exception:  # noqa: BLE001 — Redis away during the fault is a data point
            run.redis_samples.append((time.time(), None, -1))
            wait = 0.5
        stop.wait(wait)


def redis_measures(samples: list[tuple[float, Optional[str], int]], injected: Optional[float],
                   idle: int, produced_until: float) -> dict[str, Any]:
    """The sink's longest write pause after the fault (the sampled newest timestamp standing still),
    and when every idle driver was back in Redis after having gone (redis-wipe)."""
    if not injected or not samples:
        return {}
    changes = [t for (t, n), (_, prev, _) in zip([(t, n) for t, n, _ in samples[1:]], samples[:-1]) if n and n != prev]
    # Only while updates were being produced: afterwards the newest timestamp stands still anyway.
    after = [t for t in changes if injected <= t <= produced_until]
    # Up to the end of the load too: a sink that had not written again when the load ended (a wipe
    # whose replay outlasts it) paused at least that long.
    marks = [injected, *after, max(produced_until, injected)]
    pause = max(b - a for a, b in zip(marks, marks[1:]))
    out: dict[str, Any] = {"sink_write_pause_s": round(pause, 2),
                           "sink_paused_when_load_ended": not after or produced_until - after[-1] > 2.0}
    if idle:
        lost = next((t for t, _, k in samples if t >= injected and 0 <= k < idle), None)
        back = next((t for t, _, k in samples if lost and t > lost and k == idle), None)
        out.update(idle_drivers=idle, idle_drivers_lost=lost is not None,
                   idle_drivers_back_after_injection_s=round(back - injected, 2) if back else None)
    return out


def under_replicated(admin: AdminClient) -> int:
    md = admin.list_topics(timeout=5)
    return sum(1 for t in md.topics.values() for p in t.partitions.values() if len(p.isrs) < len(p.replicas))


def sample_urp(admin: AdminClient, run: Run, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            run.urp.append((time.time(), under_replicated(admin)))
        except Exception:  # noqa: BLE001 — a metadata timeout during the fault is a data point, not a crash
            run.urp.append((time.time(), -1))
        stop.wait(1.0)


def produce(args: argparse.Namespace, run: Run, prefix: str) -> None:
    sim = Simulator(args.drivers, seed=args.seed, interval_s=args.drivers / args.rate, id_prefix=prefix)
    n = len(sim.drivers)

    def on_ack(msg: Any) -> None:
        run.acks.append(Ack(time.time(), msg.latency() or 0.0, msg.key(), msg.value(), msg.partition(), msg.offset()))

    sender = Sender(args.bootstrap, args.topic, on_ack=on_ack, extra={**args.kafka, **args.producer_config})
    if args.idle_drivers:
        idle = Simulator(args.idle_drivers, seed=args.seed + 1, id_prefix=prefix + "idle-")
        for i in range(len(idle.drivers)):
            key, update = idle.step(i, int(time.time() * 1000))
            k, v = serialize(update, key)
            sender.send_raw(k, v)
        if sender.flush(60):
            raise SystemExit("the idle drivers' updates were not acknowledged within 60 s")
        log(f"{args.idle_drivers} idle drivers sent one update each and fall silent")
    start = time.monotonic()
    sent = 0
    next_report = start + 10
    next_fault_check = start
    end_wall: Optional[float] = None
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= args.duration:
            break
        if args.tail_after_restore is not None and time.monotonic() >= next_fault_check:
            next_fault_check += 1
            restored = read_fault(args.fault_file).get("restored")
            if restored and end_wall is None:
                end_wall = float(restored) + args.tail_after_restore
                log(f"restore recorded; producing {args.tail_after_restore:.0f}s more")
        if end_wall is not None and time.time() >= end_wall:
            break
        target = int(elapsed * args.rate)
        while sent < target:
            key, update = sim.step(sent % n, int(time.time() * 1000))
            k, v = serialize(update, key)
            sender.send_raw(k, v)
            sent += 1
        sender.poll(0.002)
        if time.monotonic() >= next_report:
            log(f"{elapsed:5.0f}s sent {sent:,} acknowledged {len(run.acks):,} failed {sender.stats.failed}")
            next_report += 10
            # Every acknowledgement is kept to the end: out of the collector's sight, so that a full
            # collection does not walk millions of them again (it stalled the load for seconds).
            gc.freeze()
    log(f"sent {sent:,}; waiting for the last acknowledgements")
    remaining = sender.flush(180)
    run.failed = sender.stats.failed + remaining
    log(f"acknowledged {len(run.acks):,}, failed {sender.stats.failed}, unacknowledged {remaining}")


def remove_drivers(args: argparse.Namespace, driver_ids: list[str]) -> int:
    """A tombstone for each of this run's drivers, once they have served: the sink removes them from
    Redis (hash and geo member) and compaction from the topic, so that a chaos run leaves no made-up
    driver for dispatch to offer, nor 100,000 more records for the next replay. Returns how many
    were not acknowledged."""
    sender = Sender(args.bootstrap, args.topic, extra={**args.kafka, **args.producer_config})
    for d in driver_ids:
        sender.send(d, None)
        if sender.stats.sent % 10_000 == 0:
            sender.poll(0)
    remaining = sender.flush(120)
    return sender.stats.failed + remaining


def read_fault(path: str) -> dict[str, Any]:
    """The fault file chaos.yml writes (empty before it does, or while it is being rewritten)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def read_back(args: argparse.Namespace, acks: list[Ack]) -> tuple[int, int, int]:
    """(missing, superseded-by-compaction, duplicates) among acknowledged records."""
    want: dict[int, dict[int, Ack]] = {}
    for a in acks:
        want.setdefault(a.partition, {})[a.offset] = a
    consumer = Consumer({**args.kafka, "group.id": f"chaos-verify-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "fetch.max.bytes": 52428800})
    stop_at = {p: max(offs) for p, offs in want.items()}
    consumer.assign([TopicPartition(args.topic, p, min(offs)) for p, offs in want.items()])
    found: dict[tuple[int, int], tuple[bytes, bytes]] = {}
    last_offset_of_key: dict[tuple[int, bytes], int] = {}
    done: set[int] = set()
    deadline = time.monotonic() + 300
    while len(done) < len(stop_at) and time.monotonic() < deadline:
        for m in consumer.consume(10000, timeout=1.0):
            if m.error():
                continue
            p, o = m.partition(), m.offset()
            if p in done:
                continue
            found[(p, o)] = (m.key(), m.value())
            last_offset_of_key[(p, m.key())] = max(o, last_offset_of_key.get((p, m.key()), -1))
            if o >= stop_at[p]:
                done.add(p)
                consumer.pause([TopicPartition(args.topic, p, OFFSET_END)])
    consumer.close()
    missing = superseded = 0
    values_seen: dict[tuple[bytes, bytes], int] = {}
    for p, offs in want.items():
        for o, a in offs.items():
            got = found.get((p, o))
            if got is not None and got == (a.key, a.value):
                continue
            # Compaction may drop a value only if a later record of the same key follows it.
            if got is None and last_offset_of_key.get((p, a.key), -1) > o:
                superseded += 1
            else:
                missing += 1
    for (k, v) in found.values():
        values_seen[(k, v)] = values_seen.get((k, v), 0) + 1
    duplicates = sum(c - 1 for c in values_seen.values() if c > 1)
    return missing, superseded, duplicates


def redis_mismatches(r: redis.Redis, expected: dict[str, dict], chunk: int = 5000) -> list[str]:
    """The drivers whose hash in Redis is not their expected latest update, read `chunk` per round trip
    (one pipeline of 102,000 HGETALLs is a 4 MB request and a 15 MB reply)."""
    ids = list(expected)
    got_all: list[dict] = []
    for i in range(0, len(ids), chunk):
        pipe = r.pipeline(transaction=False)
        for d in ids[i:i + chunk]:
            pipe.hgetall(f"driver:{d}")
        got_all.extend(pipe.execute())
    bad = []
    for (d, want), got in zip(expected.items(), got_all):
        if (got.get("timestamp") != want["timestamp"] or got.get("status") != want["status"]
                or abs(float(got.get("latitude", "nan")) - want["latitude"]) > 1e-9
                or abs(float(got.get("longitude", "nan")) - want["longitude"]) > 1e-9):
            bad.append(d)
    return bad


@dataclass
class Gaps:
    overall: float = 0.0        # longest silence between any two acknowledgements
    worst: float = 0.0          # longest silence of one partition
    partition: int = -1         # that partition
    began: float = 0.0          # wall clock of the last acknowledgement before it
    ended: float = 0.0          # wall clock of the first acknowledgement after it


def longest_gaps(acks: list[Ack], since: float = float("-inf"), until: float = float("inf")) -> Gaps:
    """Longest silences among those still running at `since` or later and over by `until`.

    The fault's window is measured with since=injection: a stall that was over before the fault
    (the loaded lab's own stalls) is not the fault's doing; it is reported separately.
    """
    times = sorted(a.at for a in acks)
    gaps = Gaps(overall=max((b - a for a, b in zip(times, times[1:]) if since <= b <= until), default=0.0))
    per: dict[int, list[float]] = {}
    for a in acks:
        per.setdefault(a.partition, []).append(a.at)
    for p, ts in per.items():
        ts.sort()
        for a, b in zip(ts, ts[1:]):
            if since <= b <= until and b - a > gaps.worst:
                gaps.worst, gaps.partition, gaps.began, gaps.ended = b - a, p, a, b
    return gaps


def p99(values: list[float]) -> Optional[float]:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(0.99 * len(s)))]


def parse_properties(items: list[str]) -> dict[str, str]:
    """-X KEY=VALUE pairs as a dict; a pair without '=' or with an empty key is refused by name."""
    props: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"-X {item!r}: expected KEY=VALUE, e.g. -X linger.ms=5")
        props[key.strip()] = value
    return props


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--client-config", metavar="FILE",
                    help="Kafka client properties of the verifier's principal, e.g. credentials/local/kafka/chaos-verifier.properties")
    ap.add_argument("--bootstrap", help="host:port list (default: the client config's)")
    ap.add_argument("--topic", default="driver-locations")
    ap.add_argument("--redis-credentials", required=True, metavar="FILE",
                    help="host, port, user and password of a Redis user that may read the driver keys, "
                         "e.g. credentials/local/redis-admin.properties")
    ap.add_argument("--monitoring-credentials", default="", metavar="FILE",
                    help="Prometheus URL and credentials for the timeline, e.g. credentials/local/monitoring.properties; "
                         "empty: no PNG")
    ap.add_argument("--rate", type=float, default=5000.0, help="updates per second")
    ap.add_argument("--drivers", type=int, default=2000)
    ap.add_argument("--idle-drivers", type=int, default=0, metavar="N",
                    help="drivers that send one update before the load and never again (parked): after a Redis "
                         "wipe only the sink's replay of the topic brings them back")
    ap.add_argument("--keep-drivers", action="store_true",
                    help="leave this run's drivers in the topic and Redis (default: a tombstone each at the end)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration", type=float, required=True,
                    help="seconds of production (with --tail-after-restore: at most this many)")
    ap.add_argument("--tail-after-restore", type=float, default=None, metavar="SECONDS",
                    help="stop producing this long after the fault file records the restore, for faults "
                         "that end by themselves (a certificate renewal)")
    ap.add_argument("--fault-file", required=True)
    ap.add_argument("--report-dir", required=True)
    ap.add_argument("--converge-timeout", type=float, default=300.0)
    ap.add_argument("--wait-restore", type=float, default=0.0, metavar="SECONDS",
                    help="after the load, wait up to this long for the fault file to record the restore")
    ap.add_argument("--ca-location", metavar="FILE", default="",
                    help="CA bundle every Kafka client of the verifier trusts, over the client config's "
                         "ssl.ca.location (a CA replacement: the current and the next CA)")
    ap.add_argument("-X", dest="producer_config", action="append", default=[], metavar="KEY=VALUE",
                    help="librdkafka producer property over rastro's defaults (repeatable), e.g. -X linger.ms=5")
    args = ap.parse_args(argv)
    try:
        args.producer_config = parse_properties(args.producer_config)
        args.kafka = load(args.client_config) if args.client_config else {}
        if args.ca_location:
            if not Path(args.ca_location).is_file():
                raise ValueError(f"--ca-location {args.ca_location}: not a file")
            args.kafka["ssl.ca.location"] = args.ca_location
        # Refuses a malformed file now, not after the load.
        args.redis = redis_client(args.redis_credentials, socket_timeout=10, decode_responses=True)
        args.monitoring = monitoring.load(args.monitoring_credentials) if args.monitoring_credentials else None
    except (ValueError, ClientConfigError) as exc:
        ap.error(str(exc))
    args.bootstrap = args.bootstrap or args.kafka.get("bootstrap.servers")
    if not args.bootstrap:
        ap.error("--bootstrap or a --client-config with bootstrap.servers is required")
    args.kafka["bootstrap.servers"] = args.bootstrap
    if args.tail_after_restore is not None and args.tail_after_restore < 0:
        ap.error(f"--tail-after-restore must not be negative (got {args.tail_after_restore})")
    if args.idle_drivers < 0:
        ap.error(f"--idle-drivers must not be negative (got {args.idle_drivers})")
    for name in ("rate", "duration", "drivers"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name} must be positive (got {getattr(args, name)})")

    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"chaos{uuid.uuid4().hex[:6]}-driver-"
    admin = AdminClient(dict(args.kafka))
    run = Run()
    stop = threading.Event()
    sampler = threading.Thread(target=sample_urp, args=(admin, run, stop), daemon=True)
    sampler.start()
    # The Simulator's own naming (produce() builds the same ones).
    run.active_ids = [d.driver_id for d in Simulator(args.drivers, seed=args.seed, id_prefix=prefix).drivers]
    if args.idle_drivers:
        run.idle_ids = [d.driver_id for d in Simulator(args.idle_drivers, seed=args.seed + 1,
                                                       id_prefix=prefix + "idle-").drivers]
    # Sampled until Redis has converged: after a wipe, the replay may end after the load does.
    redis_stop = threading.Event()
    redis_sampler = threading.Thread(target=sample_redis, args=(args.redis, run, redis_stop), daemon=True)
    redis_sampler.start()
    started = time.time()
    log(f"producing {args.rate:.0f} updates/s for {args.duration:.0f}s to {args.topic} (drivers {prefix}*)")
    produce(args, run, prefix)
    produced_until = time.time()

    fault = read_fault(args.fault_file)
    # On a loaded host chaos.yml can restore the fault after the load has ended: wait for it, so
    # that the restore-relative measures are not lost.
    wait_until = time.time() + args.wait_restore
    while fault.get("injected") and not fault.get("restored") and time.time() < wait_until:
        time.sleep(1)
        fault = read_fault(args.fault_file)
    injected, restored = fault.get("injected"), fault.get("restored")

    # Under-replicated partitions back to 0 after the restore: keep sampling until they are.
    urp_zero_at = None
    deadline = time.time() + 300
    while restored and time.time() < deadline:
        after = [(t, n) for t, n in run.urp if t >= restored]
        zero = next((t for t, n in after if n == 0), None)
        if zero is not None:
            urp_zero_at = zero
            break
        time.sleep(1)
    stop.set()

    log("reading the topic back")
    missing, superseded, duplicates = read_back(args, run.acks)
    log(f"missing {missing}, superseded by compaction {superseded}, duplicates {duplicates}")

    expected: dict[str, dict] = {}
    for a in sorted(run.acks, key=lambda a: (a.partition, a.offset)):
        u = json.loads(a.value)
        expected[u["driver_id"]] = u
    # Through the Sentinels: after a failover the next read goes to the new primary.
    r = args.redis
    log(f"waiting for Redis to hold the latest acknowledged update of {len(expected):,} drivers")
    converged_at = None
    bad: list[str] = list(expected)
    t_end = time.time() + args.converge_timeout
    while time.time() < t_end:
        try:
            bad = redis_mismatches(r, expected)
        except redis.RedisError as exc:
            log(f"Redis not answering yet: {exc}")
            bad = list(expected)
        if not bad:
            converged_at = time.time()
            break
        time.sleep(0.5)
    redis_stop.set()
    removed_failed = None
    if not args.keep_drivers:
        log(f"removing this run's {len(run.active_ids) + len(run.idle_ids):,} drivers (a tombstone each)")
        removed_failed = remove_drivers(args, run.active_ids + run.idle_ids)

    gaps = longest_gaps(run.acks, since=injected) if injected else longest_gaps(run.acks)
    before = longest_gaps(run.acks, until=injected) if injected else None
    during = [a.latency for a in run.acks if injected and a.at >= injected and (not restored or a.at <= restored + 5)]
    report = {
        "fault": fault.get("fault"), "target": fault.get("target"),
        "rate": args.rate, "drivers": args.drivers, "production_s": round(produced_until - started, 1),
        "acknowledged": len(run.acks), "failed": run.failed,
        "lost": missing, "superseded_by_compaction": superseded, "duplicates": duplicates,
        "redis_converged": converged_at is not None, "redis_mismatched_drivers": len(bad),
        "unavailability_window_s": round(gaps.worst, 3), "unavailability_partition": gaps.partition,
        # Where the window sits relative to the injection: shows what the fault cost vs detection.
        "unavailability_began_after_injection_s": round(gaps.began - injected, 3) if injected else None,
        "unavailability_ended_after_injection_s": round(gaps.ended - injected, 3) if injected else None,
        "longest_gap_any_ack_s": round(gaps.overall, 3),
        # The same measure over the lead-in before the fault: the lab's own background stalls.
        "longest_silence_before_fault_s": round(before.worst, 3) if before else None,
        "p99_latency_during_fault_ms": round(p99(during) * 1000, 1) if during else None,
        "p99_latency_whole_run_ms": round(p99([a.latency for a in run.acks]) * 1000, 1) if run.acks else None,
        "urp_zero_after_restore_s": round(urp_zero_at - restored, 1) if urp_zero_at and restored else (0.0 if not restored else None),
        "redis_converged_after_production_s": round(converged_at - produced_until, 1) if converged_at else None,
        "redis_converged_after_restore_s": round(converged_at - restored, 1) if converged_at and restored else None,
        **redis_measures(run.redis_samples, injected, args.idle_drivers, produced_until),
        # None with --keep-drivers; else the tombstones of this run's drivers that were not acknowledged.
        "drivers_removed_unacknowledged": removed_failed,
        "started": started, "injected": injected, "restored": restored, "produced_until": produced_until,
    }
    mon = args.monitoring
    if mon and injected:
        from chaos.timeline import active_controller
        # A broker that is also the active KRaft controller takes longer to replace: say which it was.
        report["active_controller_before_fault"] = active_controller(mon, injected - 1)
    (report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    # Per-second series of our own producer for the timeline.
    acks_per_s: dict[int, int] = {}
    for a in run.acks:
        acks_per_s[int(a.at)] = acks_per_s.get(int(a.at), 0) + 1
    (report_dir / "series.json").write_text(json.dumps({"acks_per_s": sorted(acks_per_s.items()), "urp": run.urp}))
    if mon:
        from chaos.timeline import draw
        draw(mon, report, sorted(acks_per_s.items()), report_dir / "timeline.png")
    log("report: " + json.dumps({k: v for k, v in report.items() if k not in ("started", "injected", "restored", "produced_until")}))
    ok = missing == 0 and run.failed == 0 and converged_at is not None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
