#!/usr/bin/python3
"""The dispatch API on the deployed lab (`make bench-api`), side by side with its ceiling, in one run:

1. 100,000 drivers of the bench (`bench-api-<12 digits>`, spread over the producer's city) go through
   the pipeline (Kafka, the sink) into Redis; the producer keeps running.
2. `wrk` (Debian) with bench/api_wrk.lua — random points over the city, random drivers — against every
   API host at once (one wrk per host): `nearby` (2 km, limit 10, available) and driver by id, each as
   fast as it goes, then held near the goal's rate (2,000 and 5,000 requests/s) for p50/p99.
3. The ceiling: `redis-benchmark` running the same GEOSEARCH (from the city's centre, 2 km, COUNT 10) and
   HGETALL (a random driver) on a replica the API reads from, with as many connections.

The API's maximum rate is reported as a ratio to Redis's. Writes artifacts/bench/api.{json,csv,png}
and prints a table. redis-benchmark takes a password only on its command line: it logs in as a
throw-away read-only ACL user (GEOSEARCH, HGETALL on the driver keys) with a random password, created
for the run and deleted right after it; no deployment secret is on a command line."""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "producer"), str(REPO / "api")]

import redis  # noqa: E402

from rastro_producer.contract import STATUSES, format_timestamp  # noqa: E402
from rastro_producer.kafka_config import redis_replicas  # noqa: E402
from rastro_producer.sender import Sender  # noqa: E402
from tests.lib.api import client, operator_key  # noqa: E402
from tests.lib.lab import BOOTSTRAP, CREDENTIALS, kafka_conf, redis_admin, wait_until  # noqa: E402

CITY = (-23.68, -46.78, -23.45, -46.51)  # south, west, north, east: the producer's São Paulo
PREFIX = "bench-api-"
WRK_SCRIPT = REPO / "bench" / "api_wrk.lua"


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [bench-api] {msg}", flush=True)


def driver_id(i: int) -> str:
    return f"{PREFIX}{i:012d}"  # redis-benchmark's __rand_int__ is 12 digits, zero-padded


def load_drivers(n: int, seed: int = 16) -> None:
    import random
    from datetime import datetime, timezone
    rnd = random.Random(seed)
    stamp = format_timestamp(datetime.now(timezone.utc))
    sender = Sender(BOOTSTRAP, "driver-locations", extra=kafka_conf("bench"), on_ack=lambda m: None)
    log(f"sending {n:,} bench drivers through Kafka")
    for i in range(n):
        sender.send(driver_id(i), {"driver_id": driver_id(i), "latitude": round(rnd.uniform(CITY[0], CITY[2]), 6),
                                   "longitude": round(rnd.uniform(CITY[1], CITY[3]), 6), "timestamp": stamp,
                                   "status": rnd.choice(STATUSES)})
        sender.poll(0)
    assert sender.flush(120) == 0 and sender.stats.failed == 0
    r = redis.Redis(**redis_admin(), decode_responses=True)
    last = [driver_id(i) for i in range(n - 50, n)]
    wait_until(lambda: all(r.hget(f"driver:{d}", "timestamp") == stamp for d in last), 300, interval=1,
               what="the sink to write the bench drivers")
    log("the bench drivers are in Redis")


def remove_drivers(n: int) -> None:
    sender = Sender(BOOTSTRAP, "driver-locations", extra=kafka_conf("bench"), on_ack=lambda m: None)
    for i in range(n):
        sender.send(driver_id(i), None)
        sender.poll(0)
    assert sender.flush(120) == 0
    log(f"tombstoned the {n:,} bench drivers")


def wrk(urls: list[str], mode: str, seconds: int, connections: int, delay_ms: float, drivers: int) -> dict[str, Any]:
    """One wrk per API host at once; their results summed (latencies: the worst host's percentiles)."""
    env = {**os.environ, "RASTRO_API_KEY": operator_key(), "BENCH_MODE": mode, "BENCH_DRIVERS": str(drivers),
           "BENCH_DELAY_MS": f"{delay_ms:.3f}", "BENCH_BOX": ",".join(map(str, CITY))}
    per_host = max(connections // len(urls), 1)
    procs = [subprocess.Popen(["wrk", "-t1", f"-c{per_host}", f"-d{seconds}s", "--timeout", "5s", "-s", str(WRK_SCRIPT), url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for url in urls]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=seconds + 60)
        line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out[-500:]} {err[-500:]}")
        results.append(json.loads(line[len("RESULT "):]))
    duration = max(r["duration_s"] for r in results)
    total = sum(r["requests"] for r in results)
    errors = sum(r[k] for r in results for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {"requests": total, "rate": total / duration, "errors": errors, "connections": per_host * len(urls),
            "p50_ms": max(r["p50_ms"] for r in results), "p99_ms": max(r["p99_ms"] for r in results),
            "max_ms": max(r["max_ms"] for r in results), "hosts": len(urls)}


def held(urls: list[str], mode: str, target: float, seconds: int, connections: int, drivers: int) -> dict[str, Any]:
    """wrk near `target` requests/s: each connection pauses between requests; one calibration run."""
    delay = connections * 1000.0 / target
    first = wrk(urls, mode, max(seconds // 3, 5), connections, delay, drivers)
    latency_ms = max(connections * 1000.0 / first["rate"] - delay, 0.0)
    delay = max(connections * 1000.0 / target - latency_ms, 0.0)
    return {**wrk(urls, mode, seconds, connections, delay, drivers), "target_rate": target, "delay_ms": round(delay, 3)}


def redis_ceiling(command: list[str], requests: int, connections: int, replica: dict[str, Any]) -> dict[str, Any]:
    """redis-benchmark on a replica the API reads from, as a throw-away read-only user."""
    admin = redis.Redis(**{**redis_admin(), "host": replica["host"], "port": replica["port"]}, decode_responses=True)
    primary = redis.Redis(**redis_admin(), decode_responses=True)
    user, password = f"bench-ceiling-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    # Created on the primary: ACL changes do not replicate, so also on the replica benchmarked.
    for r in {id(primary): primary, id(admin): admin}.values():
        r.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["driver:*", "drivers:geo:*"],
                      commands=["-@all", "+geosearch", "+hgetall", "+ping", "+auth", "+hello", "+config|get"])
    tls = ["--tls", "--cacert", str(CREDENTIALS / "ca.pem")] if replica.get("ssl") else []
    try:
        out = subprocess.run(["redis-benchmark", "-h", replica["host"], "-p", str(replica["port"]), *tls,
                              "--user", user, "-a", password, "-c", str(connections), "-n", str(requests),
                              "-r", "100000", "--csv", *command], capture_output=True, text=True, timeout=600)
    finally:
        for r in {id(primary): primary, id(admin): admin}.values():
            r.acl_deluser(user)
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith('"') and not ln.startswith('"test"')]
    if not rows:
        raise RuntimeError(f"redis-benchmark gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    cells = [c.strip('"') for c in rows[-1].split('","')]
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    return {"rate": float(cells[1]), "p50_ms": float(cells[4]), "p99_ms": float(cells[6]), "connections": connections,
            "server": replica["host"]}


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = ["nearby", "driver by id"]
    api = [result["nearby_max"]["rate"], result["driver_max"]["rate"]]
    ceiling = [result["ceiling_geosearch"]["rate"], result["ceiling_hgetall"]["rate"]]
    x = range(len(names))
    ax1.bar([i - 0.2 for i in x], api, 0.4, label="dispatch API (3 hosts, wrk)")
    ax1.bar([i + 0.2 for i in x], ceiling, 0.4, label="Redis alone (redis-benchmark)")
    for i in x:
        ax1.text(i - 0.2, api[i], f"{api[i]:,.0f}\n×{api[i] / ceiling[i]:.2f}", ha="center", va="bottom", fontsize=8)
        ax1.text(i + 0.2, ceiling[i], f"{ceiling[i]:,.0f}", ha="center", va="bottom", fontsize=8)
    ax1.set_xticks(list(x), names)
    ax1.set_ylabel("requests/s")
    ax1.set_title("Maximum rate")
    ax1.legend(fontsize=8)
    held_runs = [("nearby @ " + f"{result['nearby_held']['rate']:,.0f}/s", result["nearby_held"], 20),
                 ("by id @ " + f"{result['driver_held']['rate']:,.0f}/s", result["driver_held"], 10)]
    for i, (label, run, goal) in enumerate(held_runs):
        ax2.bar([i - 0.2], [run["p50_ms"]], 0.4, color="tab:blue", label="p50" if i == 0 else None)
        ax2.bar([i + 0.2], [run["p99_ms"]], 0.4, color="tab:red", label="p99" if i == 0 else None)
        ax2.hlines(goal, i - 0.45, i + 0.45, colors="black", linestyles="dashed", label="p99 goal" if i == 0 else None)
    ax2.set_xticks([0, 1], [h[0] for h in held_runs])
    ax2.set_ylabel("ms")
    ax2.set_title("Latency at the goal's rate")
    ax2.legend(fontsize=8)
    fig.suptitle(f"rastro dispatch API, {result['drivers']:,} drivers in Redis, producer running — {result['when']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drivers", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=24, help="wrk connections in all (split over the hosts)")
    ap.add_argument("--nearby-rate", type=float, default=2000)
    ap.add_argument("--driver-rate", type=float, default=5000)
    ap.add_argument("--keep-drivers", action="store_true", help="leave the bench drivers in Redis")
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    args = ap.parse_args()
    if not 1 <= args.drivers <= 1_000_000:
        ap.error(f"--drivers: between 1 and 1,000,000 (got {args.drivers})")
    urls = client().urls
    load_drivers(args.drivers)
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M"), "drivers": args.drivers, "urls": urls}
    try:
        for mode, rate in (("nearby", args.nearby_rate), ("driver", args.driver_rate)):
            log(f"{mode}: as fast as it goes, {args.seconds} s, {args.connections} connections")
            result[f"{mode}_max"] = wrk(urls, mode, args.seconds, args.connections, 0, args.drivers)
            log(f"{mode}: {result[f'{mode}_max']['rate']:,.0f} requests/s, p99 {result[f'{mode}_max']['p99_ms']:.1f} ms")
            log(f"{mode}: held near {rate:,.0f} requests/s")
            result[f"{mode}_held"] = held(urls, mode, rate, args.seconds, args.connections, args.drivers)
            log(f"{mode}: {result[f'{mode}_held']['rate']:,.0f} requests/s, p50 {result[f'{mode}_held']['p50_ms']:.1f} ms, "
                f"p99 {result[f'{mode}_held']['p99_ms']:.1f} ms")
        replica = next(c for c in redis_replicas(CREDENTIALS / "redis-admin.properties")
                       if redis.Redis(**c, decode_responses=True).info("replication")["role"] == "slave")
        n = 200_000
        log(f"Redis alone on the replica {replica['host']}: GEOSEARCH and HGETALL, {n:,} each")
        result["ceiling_geosearch"] = redis_ceiling(
            # From the city's centre (a member of another status cannot be searched from; the
            # drivers are spread evenly, so every point of the city costs Redis about the same).
            ["GEOSEARCH", "drivers:geo:available", "FROMLONLAT", str((CITY[1] + CITY[3]) / 2), str((CITY[0] + CITY[2]) / 2),
             "BYRADIUS", "2000", "m",
             "ASC", "COUNT", "10", "WITHDIST"], n, args.connections, replica)
        result["ceiling_hgetall"] = redis_ceiling(["HGETALL", f"driver:{PREFIX}__rand_int__"], n, args.connections, replica)
    finally:
        if not args.keep_drivers:
            remove_drivers(args.drivers)
    result["ratio_nearby"] = result["nearby_max"]["rate"] / result["ceiling_geosearch"]["rate"]
    result["ratio_driver"] = result["driver_max"]["rate"] / result["ceiling_hgetall"]["rate"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [("nearby, max", result["nearby_max"]), ("nearby, held", result["nearby_held"]),
            ("driver by id, max", result["driver_max"]), ("driver by id, held", result["driver_held"]),
            ("Redis GEOSEARCH (redis-benchmark)", result["ceiling_geosearch"]),
            ("Redis HGETALL (redis-benchmark)", result["ceiling_hgetall"])]
    with (args.out / "api.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["run", "requests_per_s", "p50_ms", "p99_ms", "errors"])
        for name, run in rows:
            w.writerow([name, round(run["rate"]), run["p50_ms"], run["p99_ms"], run.get("errors", "")])
    chart(result, args.out / "api.png")
    print(f"\n| run | requests/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|")
    for name, run in rows:
        print(f"| {name} | {run['rate']:,.0f} | {run['p50_ms']:.2f} | {run['p99_ms']:.2f} | {run.get('errors', '')} |")
    print(f"\nAPI / Redis: nearby ×{result['ratio_nearby']:.2f}, driver by id ×{result['ratio_driver']:.2f} "
          f"(goal ≥ 0.5); written to {args.out}/api.{{json,csv,png}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
