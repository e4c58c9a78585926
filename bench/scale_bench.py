#!/usr/bin/python3
"""City-scale benchmark on the deployed lab, in one run (`make bench-scale`):

1. The limits, on the same Redis and cluster: the raw ceiling of Redis (a plain pipelined HSET of the
   contract's fields + GEOADD, no guard, no Kafka, no Connect), the sink's own writer without Kafka
   (apply.lua, 100 updates per call, WAIT 1) and the old path (one EVALSHA per update), each with the
   Redis server's CPU per update (redis-sink WritePathBench); Kafka's ProducerPerformance against
   rastro's producer at the same record size; the sink alone (a connector as deployed draining records
   over 100,000 drivers) at 100 and at 1 update per script call.
2. The soak: --rate updates/s (default 25,000) over --drivers simulated drivers (default 100,000, spread
   over a city of 25 x 28 km) into driver-locations for --seconds (default 300), with monitoring running.
   Every second: produced rate, rate visible in Redis (updates the sink applied: GEOADD calls on the
   primary), freshness p50/p99 of a sample of watched drivers, CPU per process kind; the sink's lag per
   partition from Prometheus. Then it checks that Redis holds every driver's last update (nothing lost)
   and removes the bench's drivers with tombstones.

Writes artifacts/bench/scale.{json,csv,png} and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "producer"), str(REPO / "bench")]

import redis  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import producer_bench  # noqa: E402
import profiling  # noqa: E402
import sink_bench  # noqa: E402
from rastro_producer.contract import parse_timestamp  # noqa: E402
from rastro_producer.kafka_config import redis_primary  # noqa: E402
from rastro_producer.sender import Sender  # noqa: E402
from rastro_producer.simulator import Simulator, start_of  # noqa: E402
from tests.lib import prom  # noqa: E402
from tests.lib.lab import BOOTSTRAP, CREDENTIALS, HOSTS, kafka_conf, redis_admin, ssh  # noqa: E402

KAFKA = kafka_conf("bench")
SINK = REPO / "redis-sink"
# A city: 25 km x 28 km around São Paulo's centre (south, west, north, east).
CITY = (-23.68, -46.78, -23.45, -46.51)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-scale] {msg}", flush=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


# ---------------------------------------------------------------- limits

def write_path(updates: int, drivers: int) -> list[dict]:
    """redis-sink's WritePathBench against the primary, as the admin user (password in the environment),
    each with WAIT 1 per pipeline of 500 like the sink: raw (the ceiling), the sink's writer, the old path."""
    cp_file = SINK / "target" / "test.classpath"
    if not cp_file.exists():
        raise SystemExit(f"error: {cp_file} missing; run `make bench-scale` (it builds the sink's test classpath)")
    conn = redis_admin()
    host, port = conn["host"], conn["port"]
    ca = conn.get("ssl_ca_certs") or "-"
    cp = f"{SINK}/target/classes:{SINK}/target/test-classes:{cp_file.read_text().strip()}"
    env = {**os.environ, "RASTRO_REDIS_PASSWORD": conn.get("password") or ""}
    hz = os.sysconf("SC_CLK_TCK")
    rows = []
    for variant in ("raw", "writer-100", "per-update"):
        # Twice per JVM: the second run's rate counts (the first warms the JIT); the CPU of every process
        # over both runs, so Redis's figure includes the replicas applying the replication stream.
        before = cpu_ticks({})
        out = subprocess.run(["java", "-Xmx1g", "-cp", cp, "io.rastro.connect.redis.WritePathBench", host, str(port),
                              conn.get("username") or "", ca, str(drivers), str(updates), "500", "1", variant, variant],
                             capture_output=True, text=True, env=env, timeout=900)
        after = cpu_ticks({})
        if out.returncode != 0:
            raise RuntimeError(f"WritePathBench {variant} failed ({out.returncode}): {out.stderr[-2000:]}")
        row = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")][-1]
        row["cpu_us_per_update"] = {k: round((after.get(k, 0) - before.get(k, 0)) / hz * 1e6 / (2 * updates), 1)
                                    for k in after if after.get(k, 0) - before.get(k, 0) > 0}
        rows.append(row)
    return rows


def producers(records: int) -> dict:
    updates = list(Simulator(100_000, seed=99).rounds(start_of(None), records))
    size = round(statistics.mean(len(json.dumps(u, separators=(",", ":"))) for _, u in updates))
    topic = f"bench-scale-{uuid.uuid4().hex[:6]}"
    admin = AdminClient(KAFKA)
    admin.create_topics([NewTopic(topic, 12, 3, config={"min.insync.replicas": "2", "retention.ms": "3600000"})])[topic].result(30)
    try:
        ours = producer_bench.ours(topic, updates, 0.0, 30)
        theirs = producer_bench.theirs(topic, records, size, 0.0, 30, REPO / "kafka-dist" / "target" / "kafka-4.3.1" / "libs")
    finally:
        admin.delete_topics([topic])[topic].result(30)
    return {"records": records, "record_size": size, "rastro_msgs_per_s": ours["msgs_per_s"],
            "producer_performance_msgs_per_s": theirs["msgs_per_s"],
            "ratio": ours["msgs_per_s"] / theirs["msgs_per_s"]}


# The sink-alone variants: (label, redis.batch.size, connector settings). --levers adds the last three.
SINK_VARIANTS = (("sink, 100 per script call", 500, {"redis.script.batch.size": "100"}),
                 ("sink, 1 per script call", 500, {"redis.script.batch.size": "1"}))
LEVERS = (("sink, 6 tasks", 500, {"tasks.max": "6"}),
          ("sink, no WAIT", 500, {"redis.wait.replicas": "0"}),
          ("sink, 2,000 per round trip", 2000, {}))


def sink_alone(records: int, drivers: int, levers: bool = False) -> list[dict]:
    """A connector as deployed draining `records` updates over `drivers` drivers, per variant."""
    admin = AdminClient(KAFKA)
    topic = f"bench-sink-scale-{uuid.uuid4().hex[:6]}"  # bench-sink-*: the topics Connect may read in the lab
    admin.create_topics([NewTopic(topic, 12, 3, config={"min.insync.replicas": "2", "retention.ms": "3600000"})])[topic].result(30)
    prefix = f"ss{uuid.uuid4().hex[:4]}"
    try:
        markers = sink_bench.prefill(topic, prefix, records, drivers)
        rows = []
        for n, (label, batch, extra) in enumerate(SINK_VARIANTS + (LEVERS if levers else ())):
            log(f"  {label}: draining {records:,} records")
            ticks: dict[str, tuple[float, dict[str, int]]] = {}
            res = sink_bench.sink_throughput(f"v{n}", batch, topic, prefix, markers, records + len(markers), extra=extra,
                                             window=lambda edge: ticks.__setitem__(edge, (time.time(), cpu_ticks({}))))
            # CPU per record and process kind while the sink drained the topic ("other": the kernel's
            # share in no process, sshd, journald, this bench's own polling).
            (t0, before), (t1, after) = ticks["start"], ticks["end"]
            hz = os.sysconf("SC_CLK_TCK")
            res["cpu_us_per_record"] = {k: round((after.get(k, 0) - before.get(k, 0)) / hz * 1e6 / records, 1)
                                        for k in after if after.get(k, 0) > before.get(k, 0)}
            res["cpu_cores_mean"] = round((sum(after.values()) - sum(before.values())) / hz / (t1 - t0), 2)
            res["sink"] = label
            res["settings"] = {"redis.batch.size": batch, **extra}
            rows.append(res)
            log(f"    {res['records_per_s']:,.0f} records/s; CPU µs per record: {res['cpu_us_per_record']}")
    finally:
        admin.delete_topics([topic])[topic].result(30)
    return rows


# ---------------------------------------------------------------- soak

def producer_proc(index: int, procs: int, drivers: int, rate: float, seconds: float, prefix: str,
                  start_at: float, out: "mp.Queue", profile: tuple[float, float, str] | None = None) -> None:
    """One producer over the drivers i with i % procs == index, at rate/procs; reports every second.
    With `profile` (from, to, file: seconds into the soak), cProfile runs in that window only."""
    import cProfile
    profiler = cProfile.Profile() if profile else None
    from rastro_producer.simulator import BoundingBox
    sim = Simulator(drivers, bbox=BoundingBox(*CITY), seed=14, id_prefix=prefix)
    mine = list(range(index, drivers, procs))
    my_rate = rate / procs
    sender = Sender(BOOTSTRAP, "driver-locations", extra=KAFKA, keep_latencies=True)
    while time.time() < start_at:
        time.sleep(0.01)
    start = time.monotonic()
    # Paced at the rate and bounded in time: a producer that cannot keep up sends fewer, not for longer.
    next_tick, acked_before, lat_from, i = 1.0, 0, 0, -1
    while time.monotonic() - start < seconds:
        i += 1
        while i > (time.monotonic() - start) * my_rate:
            sender.poll(0.001)
        key, update = sim.step(mine[i % len(mine)], int(time.time() * 1000))
        sender.send(key, update)
        if i % 100 == 0:
            sender.poll(0)
            if profiler and profile and profile[0] <= time.monotonic() - start:
                if profile[1] > time.monotonic() - start:
                    profiler.enable()
                else:
                    profiler.disable()
                    profiler.dump_stats(profile[2])
                    profiler = None
            if time.monotonic() - start >= next_tick:
                lat = sender.stats.latencies[lat_from:]
                lat_from += len(lat)
                out.put(("tick", index, next_tick, sender.stats.acked - acked_before, lat))
                acked_before = sender.stats.acked
                next_tick += 1.0
    pending = sender.flush(120)
    lat = sender.stats.latencies[lat_from:]
    out.put(("tick", index, next_tick, sender.stats.acked - acked_before, lat))
    out.put(("done", index, {"sent": i + 1, "acked": sender.stats.acked, "failed": sender.stats.failed,
                             "pending": pending, "seconds": time.monotonic() - start,
                             "last": {sim.drivers[d].driver_id: sim.drivers[d].last_ts_ms for d in mine if sim.drivers[d].last_ts_ms}}))


# The watched drivers' timestamps in one call: one command per poll instead of one per driver, so
# watching costs Redis little next to the sink's writes.
READ_TIMESTAMPS = "local out = {} for i, k in ipairs(KEYS) do out[i] = redis.call('HGET', k, 'timestamp') end return out"


def poller(drivers: list[str], start_at: float, stop_at: float, out: "mp.Queue", period: float = 0.02) -> None:
    """Freshness: each new timestamp a watched driver shows is one sample (now - its timestamp), read
    from the primary every `period` seconds (the sample can be late by up to that much)."""
    r = redis.Redis(**{**redis_admin(), "decode_responses": True})
    read = r.register_script(READ_TIMESTAMPS)
    keys = [f"driver:{d}" for d in drivers]
    last: dict[str, str] = {}
    batch: list[tuple[float, float]] = []
    sent = time.time()
    while time.time() < stop_at:
        values = read(keys=keys)
        now = time.time()
        for d, ts in zip(drivers, values):
            if ts and ts != last.get(d):
                if d in last:  # the first sighting may predate the poller
                    stamped = parse_timestamp(ts).timestamp()
                    batch.append((now - start_at, (now - stamped) * 1000))
                last[d] = ts
        if now - sent >= 1:
            out.put(("fresh", batch))
            batch, sent = [], now
        time.sleep(max(0.0, period - (time.time() - now)))
    out.put(("fresh", batch))


KINDS = (("rastro-producer", "producer (service)"), ("kafka.Kafka", "kafka"), ("ConnectDistributed", "connect"), ("redis-sentinel", "sentinel"),
         ("[sentinel]", "sentinel"), ("redis-server", "redis"), ("prometheus", "monitoring"), ("alertmanager", "monitoring"),
         ("node_exporter", "monitoring"), ("redis_exporter", "monitoring"), ("rastro-exporter", "monitoring"),
         ("rastro_exporter", "monitoring"))


# The primary's address, found once per run through the Sentinels (a failover mid-run would mislabel).
PRIMARY: list[str] = [""]


def cpu_ticks(bench_pids: dict[int, str]) -> dict[str, int]:
    """utime + stime per process kind, every process on this machine (the lab hosts' included)."""
    ticks: dict[str, int] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        used = int(fields[11]) + int(fields[12])
        if int(pid) in bench_pids:
            kind = bench_pids[int(pid)]
        else:
            kind = next((k for needle, k in KINDS if needle in cmd), "other")
        if kind == "redis":
            try:
                host = Path(f"/proc/{pid}/root/etc/hostname").read_text().strip()
            except OSError:
                host = ""
            kind = "redis (primary)" if HOSTS.get(host) == PRIMARY[0] else "redis (replicas)"
        ticks[kind] = ticks.get(kind, 0) + used
    return ticks


def geoadds(r: redis.Redis) -> int:
    return int(r.info("commandstats").get("cmdstat_geoadd", {}).get("calls", 0))


def soak(rate: float, seconds: float, drivers: int, procs: int, sample: int, profile_s: float = 0,
         out_dir: Path | None = None) -> dict:
    prefix = f"city{uuid.uuid4().hex[:4]}-"
    width = max(len(str(drivers - 1)), 4)
    watched = [f"{prefix}{i:0{width}d}" for i in range(0, drivers, max(1, drivers // sample))][:sample]
    queue: mp.Queue = mp.Queue()
    start_at = time.time() + 8  # the producers build their simulators meanwhile
    # --profile: a window in the middle of the soak, the same for JFR and cProfile.
    window = (max(5.0, (seconds - profile_s) / 2), max(5.0, (seconds - profile_s) / 2) + profile_s) if profile_s else None
    prof_file = str((out_dir or Path("/tmp")) / "producer.prof")
    workers = [mp.Process(target=producer_proc, args=(i, procs, drivers, rate, seconds, prefix, start_at, queue,
                                                      (*window, prof_file) if window and i == 0 else None))
               for i in range(procs)]
    recordings: list[tuple[str, int, str]] = []
    watcher = mp.Process(target=poller, args=(watched, start_at, start_at + seconds + 20, queue))
    for p in (*workers, watcher):
        p.start()
    bench_pids = {**{p.pid: "producer (bench)" for p in workers}, watcher.pid: "freshness poller (bench)"}
    host, port = redis_primary(CREDENTIALS / "redis-admin.properties")
    primary = redis.Redis(**redis_admin())
    hz = os.sysconf("SC_CLK_TCK")
    series: dict[int, dict[str, Any]] = {}
    cpu_rows: list[dict[str, float]] = []
    fresh: list[tuple[float, float]] = []
    latencies: list[float] = []
    done: dict[int, dict] = {}
    while time.time() < start_at:
        time.sleep(0.05)
    g0, t0 = geoadds(primary), time.time()
    c0 = cpu_ticks(bench_pids)
    g_prev, t_prev, c_prev = g0, t0, c0
    visible_by_second: dict[int, int] = {}

    def drain(block: float) -> None:
        try:
            item = queue.get(timeout=block)
        except Exception:  # noqa: BLE001 (queue.Empty)
            return
        if item[0] == "tick":
            _, _, sec, acked, lat = item
            row = series.setdefault(int(sec), {"produced": 0, "latencies": []})
            row["produced"] += acked
            row["latencies"].extend(lat)
            latencies.extend(lat)
        elif item[0] == "fresh":
            fresh.extend(item[1])
        elif item[0] == "done":
            done[item[1]] = item[2]

    end_soak = start_at + seconds
    last_report = time.time()
    while len(done) < procs or time.time() < end_soak + 5:
        drain(0.05)
        now = time.time()
        if now - t_prev >= 1.0:
            g = geoadds(primary)
            visible_by_second[int(now - start_at)] = g - g_prev
            c = cpu_ticks(bench_pids)
            cpu_rows.append({"t": now - start_at, **{k: (c.get(k, 0) - c_prev.get(k, 0)) / hz / (now - t_prev)
                                                     for k in set(c) | set(c_prev)}})
            g_prev, t_prev, c_prev = g, now, c
        if now - last_report >= 15:
            recent = [f for t, f in fresh if t > now - start_at - 15]
            log(f"  t={now - start_at:4.0f}s visible {sum(list(visible_by_second.values())[-15:]) / 15:8,.0f}/s "
                f"freshness p50 {pct(recent, .5):6.0f} ms p99 {pct(recent, .99):6.0f} ms")
            last_report = now
        if window and not recordings and now - start_at >= window[0]:
            for kind, pattern, host in (("connect", "ConnectDistributed", "kafka1"), ("broker", "kafka.Kafka", "kafka2")):
                pid = profiling.pid_of(pattern, host)
                recordings.append((f"{kind} on {host}", pid, profiling.jfr_start(pid, f"scale-{kind}", int(profile_s))))
            log(f"  profiling for {profile_s:g} s: JFR on {', '.join(r[0] for r in recordings)}, cProfile in the producer")
        if now > end_soak + 180:
            raise RuntimeError("the producers did not finish within 3 minutes of the soak's end")
    produced_end = time.time()
    for p in workers:
        p.join()
    # Nothing lost: Redis holds every driver's last update.
    last: dict[str, int] = {}
    for d in done.values():
        last.update(d["last"])
    r = redis.Redis(**{**redis_admin(), "decode_responses": True})
    ids = sorted(last)
    missing = ids
    deadline = time.time() + 900  # a soak that fell behind drains its backlog first
    while missing and time.time() < deadline:
        behind = []
        for i in range(0, len(missing), 5000):
            chunk = missing[i:i + 5000]
            pipe = r.pipeline(transaction=False)
            for d in chunk:
                pipe.hget(f"driver:{d}", "timestamp")
            for d, ts in zip(chunk, pipe.execute()):
                if not ts or parse_timestamp(ts).timestamp() * 1000 < last[d] - 0.5:
                    behind.append(d)
        missing = behind
        if missing:
            log(f"  waiting for the sink: {len(missing):,} drivers' last update not in Redis yet")
            time.sleep(5)
    converged_s = time.time() - produced_end
    g_total = geoadds(primary) - g0
    watcher.join(timeout=60)
    while True:  # the poller's last samples
        try:
            item = queue.get(timeout=0.5)
        except Exception:  # noqa: BLE001
            break
        if item[0] == "fresh":
            fresh.extend(item[1])
    lag = lag_series(t0, produced_end + converged_s)
    profile: dict[str, Any] = {}
    if recordings:
        for what, pid, path in recordings:
            profile[what] = profiling.jfr_top(pid, path)
        profile["producer (Python, cProfile)"] = profiling.cprofile_top(prof_file)
    removed = remove(prefix, ids, r)
    sent = sum(d["sent"] for d in done.values())
    acked = sum(d["acked"] for d in done.values())
    soak_fresh = [f for t, f in fresh if t <= seconds]
    # Each sample in the second it was taken in (second s holds [s - 1, s)), grouped once.
    fresh_by_second: dict[int, list[float]] = {}
    for t, f in fresh:
        fresh_by_second.setdefault(math.floor(t) + 1, []).append(f)
    visible_in_run = sum(v for s, v in visible_by_second.items() if s <= seconds)
    produced_in_run = sum(v["produced"] for s, v in series.items() if s <= seconds)
    return {
        "rate_target": rate, "seconds": seconds, "drivers": drivers, "producer_processes": procs,
        "sent": sent, "acked": acked, "failed": sum(d["failed"] for d in done.values()),
        "produce_rate": acked / max(d["seconds"] for d in done.values()),
        "visible_rate": visible_in_run / seconds,
        "visible_during_run_fraction": visible_in_run / produced_in_run if produced_in_run else float("nan"),
        "applied_total": g_total, "converged_after_s": converged_s, "missing_after_convergence": len(missing),
        "freshness_samples": len(soak_fresh), "freshness_p50_ms": pct(soak_fresh, .5),
        "freshness_p99_ms": pct(soak_fresh, .99), "freshness_max_ms": max(soak_fresh, default=float("nan")),
        "delivery_p50_ms": pct(latencies, .5) * 1000, "delivery_p99_ms": pct(latencies, .99) * 1000,
        "lag_first_half_mean": _mean_lag(lag, 0, seconds / 2), "lag_second_half_mean": _mean_lag(lag, seconds / 2, seconds),
        "tombstoned_after": removed,
        "series": [{"t": s, "produced": v["produced"], "visible": visible_by_second.get(s, 0),
                    "delivery_p99_ms": pct(v["latencies"], .99) * 1000,
                    "freshness_p50_ms": pct(fresh_by_second.get(s, []), .5),
                    "freshness_p99_ms": pct(fresh_by_second.get(s, []), .99)} for s, v in sorted(series.items())],
        "cpu": cpu_rows, "lag": lag, "profile": profile,
        "cpu_mean_cores": {k: statistics.mean(r.get(k, 0) for r in cpu_rows if r["t"] <= seconds)
                           for k in {k for r in cpu_rows for k in r if k != "t"}},
    }


def _mean_lag(lag: dict, t_from: float, t_to: float) -> float:
    totals: dict[float, float] = {}
    for points in lag.values():
        for t, v in points:
            if t_from <= t < t_to:
                totals[t] = totals.get(t, 0) + v
    return statistics.mean(totals.values()) if totals else float("nan")


def lag_series(t0: float, t1: float) -> dict[str, list[tuple[float, float]]]:
    """The sink's lag per partition over the run, as Prometheus recorded it (rastro-exporter)."""
    try:
        res = prom.api("query_range", query='kafka_consumergroup_lag{consumergroup="connect-redis-sink",topic="driver-locations"}',
                       start=str(t0), end=str(t1), step="5")["result"]
    except AssertionError as exc:
        log(f"  no lag series from Prometheus: {exc}")
        return {}
    return {r["metric"]["partition"]: [(float(t) - t0, float(v)) for t, v in r["values"]] for r in res}


def remove(prefix: str, ids: list[str], r: redis.Redis) -> float:
    """Tombstones for the bench's drivers: the topic forgets them (compaction) and the sink deletes them."""
    sender = Sender(BOOTSTRAP, "driver-locations", extra=KAFKA)
    for i, d in enumerate(ids):
        sender.send(d, None)
        if i % 500 == 0:
            sender.poll(0)
    assert sender.flush(60) == 0 and sender.stats.failed == 0
    start = time.time()
    probe = ids[:: max(1, len(ids) // 500)]
    while time.time() - start < 120 and r.exists(*[f"driver:{d}" for d in probe]):
        time.sleep(0.5)
    left = r.exists(*[f"driver:{d}" for d in probe])
    if left:
        log(f"  {left} of {len(probe)} probed bench drivers still in Redis 120 s after their tombstones "
            "(the sink applies them when it catches up)")
    return time.time() - start


# ---------------------------------------------------------------- report

def smooth(values: list[float], width: int = 5) -> list[float]:
    """Trailing mean over `width` points: per-second rates jump with batching."""
    return [statistics.mean(values[max(0, i - width + 1):i + 1]) for i in range(len(values))]


def chart(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = res["soak"]
    fig, axes = plt.subplots(4, 1, figsize=(12, 13), sharex=True)
    t = [p["t"] for p in s["series"]]
    a = axes[0]
    a.plot(t, smooth([p["produced"] for p in s["series"]]), label="produced (acknowledged)/s, 5 s mean", color="#264653")
    a.plot(t, smooth([p["visible"] for p in s["series"]]), label="visible in Redis/s, 5 s mean", color="#2a9d8f")
    a.axhline(s["rate_target"], color="grey", ls=":", lw=1, label="target")
    a.set_ylabel("updates/s")
    a.legend(fontsize=8, loc="lower right")
    a.set_title(f"{s['rate_target']:,.0f} updates/s over {s['drivers']:,} drivers for {s['seconds']:.0f} s: "
                f"visible {s['visible_during_run_fraction'] * 100:.2f} % during the run, "
                f"freshness p50 {s['freshness_p50_ms']:.0f} ms / p99 {s['freshness_p99_ms']:.0f} ms", fontsize=10)
    a = axes[1]
    a.plot(t, [p["freshness_p50_ms"] for p in s["series"]], label="freshness p50", color="#2a9d8f")
    a.plot(t, [p["freshness_p99_ms"] for p in s["series"]], label="freshness p99", color="#e76f51")
    a.plot(t, [p["delivery_p99_ms"] for p in s["series"]], label="producer delivery p99", color="#264653", lw=0.8)
    a.axhline(100, color="#2a9d8f", ls="--", lw=1, label="goal p50 100 ms")
    a.axhline(500, color="#e76f51", ls="--", lw=1, label="goal p99 500 ms")
    a.set_yscale("log")
    a.set_ylabel("ms (per second)")
    a.legend(fontsize=8, ncol=3)
    a = axes[2]
    for part, points in sorted(s["lag"].items(), key=lambda kv: int(kv[0])):
        a.plot([p[0] for p in points], [p[1] for p in points], lw=0.8, label=f"p{part}")
    a.set_ylabel("sink lag (records)")
    a.legend(fontsize=7, ncol=12)
    a = axes[3]
    kinds = sorted({k for row in s["cpu"] for k in row if k != "t"}, key=lambda k: -sum(r.get(k, 0) for r in s["cpu"]))
    a.stackplot([r["t"] for r in s["cpu"]], *[[r.get(k, 0) for r in s["cpu"]] for k in kinds], labels=kinds)
    a.axhline(os.cpu_count() or 2, color="black", lw=1, ls=":", label="cores")
    a.set_ylabel("CPU (cores)")
    a.set_xlabel("seconds")
    a.legend(fontsize=7, ncol=4, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=25_000)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--drivers", type=int, default=100_000)
    ap.add_argument("--producers", type=int, default=1, help="producer processes splitting the drivers")
    ap.add_argument("--sample", type=int, default=500, help="drivers the freshness poller watches")
    ap.add_argument("--limit-updates", type=int, default=400_000, help="updates per write-path variant (0: skip the limits)")
    ap.add_argument("--sink-records", type=int, default=600_000, help="records the sink alone drains per variant (0: skip it)")
    ap.add_argument("--levers", action="store_true", help="the sink alone also with 6 tasks, without WAIT, 2,000 per round trip")
    ap.add_argument("--profile", type=float, default=0, metavar="SECONDS",
                    help="JFR on a Connect worker and a broker, cProfile in the producer, for this long mid-soak")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    args = ap.parse_args()
    for name in ("rate", "seconds", "drivers", "producers", "sample"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name}: must be positive (got {getattr(args, name)})")
    args.out.mkdir(parents=True, exist_ok=True)
    PRIMARY[0] = redis_primary(CREDENTIALS / "redis-admin.properties")[0]
    res: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "args": {k: str(v) for k, v in vars(args).items()}}
    log("stopping the producer service so only the benchmark writes")
    ssh("kafka1", "systemctl stop rastro-producer")
    try:
        if args.limit_updates:
            log(f"limits 1/3: the write path into Redis, {args.limit_updates:,} updates per variant")
            res["write_path"] = write_path(args.limit_updates, args.drivers)
            for row in res["write_path"]:
                log(f"  {row['variant']:12s} {row['updates_per_s']:9,.0f} updates/s, primary's CPU {row['redis_cpu_us_per_update']:.1f} "
                    f"µs/update; all processes: {row['cpu_us_per_update']}")
            log(f"limits 2/3: ProducerPerformance against rastro's producer, {args.limit_updates:,} records each")
            res["producers"] = producers(args.limit_updates)
            log(f"  {res['producers']}")
            if args.sink_records:
                log(f"limits 3/3: the sink alone, {args.sink_records:,} records over {args.drivers:,} drivers")
                res["sink_alone"] = sink_alone(args.sink_records, args.drivers, args.levers)
                ceiling = res["write_path"][0]["updates_per_s"]
                for row in res["sink_alone"]:
                    row["ratio_to_ceiling"] = row["records_per_s"] / ceiling
        log(f"soak: {args.rate:,.0f} updates/s over {args.drivers:,} drivers for {args.seconds:g} s, "
            f"{args.producers} producer process(es)")
        res["soak"] = soak(args.rate, args.seconds, args.drivers, args.producers, args.sample, args.profile, args.out)
    finally:
        ssh("kafka1", "systemctl start rastro-producer")
    s = res["soak"]
    (args.out / "scale.json").write_text(json.dumps(res, indent=1))
    with open(args.out / "scale.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "produced", "visible", "freshness_p50_ms", "freshness_p99_ms", "delivery_p99_ms"])
        for p in s["series"]:
            w.writerow([p["t"], p["produced"], p["visible"], round(p["freshness_p50_ms"], 1),
                        round(p["freshness_p99_ms"], 1), round(p["delivery_p99_ms"], 1)])
    chart(res, args.out / "scale.png")
    print(f"\nsoak at {s['rate_target']:,.0f}/s over {s['drivers']:,} drivers, {s['seconds']:g} s, "
          f"{s['producer_processes']} producer process(es):")
    print(f"  produced {s['produce_rate']:,.0f}/s (delivery p50 {s['delivery_p50_ms']:.0f} ms, p99 {s['delivery_p99_ms']:.0f} ms), "
          f"visible in Redis {s['visible_rate']:,.0f}/s = {s['visible_during_run_fraction'] * 100:.2f} % during the run")
    print(f"  freshness p50 {s['freshness_p50_ms']:.0f} ms, p99 {s['freshness_p99_ms']:.0f} ms ({s['freshness_samples']} samples); "
          f"sink lag mean {s['lag_first_half_mean']:.0f} (first half) → {s['lag_second_half_mean']:.0f} (second half)")
    print(f"  every driver's last update in Redis {s['converged_after_s']:.1f} s after the last send; "
          f"missing: {s['missing_after_convergence']}")
    print("  CPU (cores, mean over the soak): " + ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(s["cpu_mean_cores"].items(), key=lambda kv: -kv[1])))
    for what, p in s["profile"].items():
        print(f"  profile, {what}: " + ", ".join(f"{g} {v} %" for g, v in p.get("groups", p.get("functions", []))[:8]))
    if "write_path" in res:
        print(f"\n{'write path (no Kafka)':34s} {'updates/s':>10s} {'Redis µs/update':>16s}")
        for row in res["write_path"]:
            print(f"{row['variant']:34s} {row['updates_per_s']:10,.0f} {row['redis_cpu_us_per_update']:16.1f}")
        for row in res.get("sink_alone", []):
            print(f"{row['sink']:34s} {row['records_per_s']:10,.0f}   ratio to the ceiling {row['ratio_to_ceiling']:.2f}; "
                  f"CPU µs/record {row['cpu_us_per_record']}")
        p = res["producers"]
        print(f"producers at max rate, {p['record_size']} B: rastro {p['rastro_msgs_per_s']:,.0f}/s, "
              f"ProducerPerformance {p['producer_performance_msgs_per_s']:,.0f}/s (ratio {p['ratio']:.2f})")
    print(f"\nwrote {args.out}/scale.json, scale.csv, scale.png")
    return 0 if s["missing_after_convergence"] == 0 and s["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
