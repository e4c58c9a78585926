#!/usr/bin/python3
"""Which web framework for the dispatch API (`make bench-api-frameworks`): the same two routes — driver
by id, nearby (2 km, limit 10) — on the same DriverStore and a local redis-server holding 100,000
drivers written by the sink's apply.lua, served by each candidate from Debian's packages, one process
each, plain HTTP on loopback (the framework alone, no TLS), loaded by wrk with the same script and
connections. Candidates: aiohttp on asyncio's loop with redis-py's pure-Python reply parser and with
hiredis, aiohttp on uvloop with hiredis (how rastro-dispatch runs), Starlette on uvicorn with httptools
and uvloop. Writes artifacts/bench/api-frameworks.{json,csv} and prints a table."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "producer"), str(REPO / "api")]

import redis  # noqa: E402

from rastro_producer.contract import GEO_KEYS, STATUSES  # noqa: E402

APPLY = (REPO / "redis-sink/src/main/resources/io/rastro/connect/redis/apply.lua").read_text()
CITY = (-23.68, -46.78, -23.45, -46.51)
KEY = "bench-framework-key-0123456789"

# aiohttp as rastro-dispatch runs it, on either event loop and with either of redis-py's reply parsers
# (hiredis is a C parser redis-py uses when python3-hiredis is installed).
AIOHTTP = """
import sys
{loop}
from aiohttp import web
from rastro_dispatch.app import Keys, make_app
from rastro_dispatch.store import DriverStore
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import HiredisParser, PythonParser
async def build():
    r = Redis(connection_pool=ConnectionPool(port={{redis_port}}, decode_responses=True, parser_class={parser}))
    return make_app(DriverStore(r, r), Keys({{{{"bench": ("s", "{{digest}}")}}}}))
web.run_app(build(), host="127.0.0.1", port={{port}}, access_log=None, print=None)
"""
UVLOOP = "import uvloop\nuvloop.install()"

# Each candidate serves GET /v1/drivers/{id} and GET /v1/drivers/nearby with the same store.
SERVERS = {
    "aiohttp (asyncio, Python parser)": AIOHTTP.format(loop="", parser="PythonParser"),
    "aiohttp (asyncio, hiredis)": AIOHTTP.format(loop="", parser="HiredisParser"),
    "aiohttp (uvloop, hiredis): rastro-dispatch": AIOHTTP.format(loop=UVLOOP, parser="HiredisParser"),
    "Starlette on uvicorn (httptools, uvloop)": """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from rastro_dispatch import params
from rastro_dispatch.app import Keys
from rastro_dispatch.store import DriverStore
from redis.asyncio import Redis
keys = Keys({{"bench": ("s", "{digest}")}})
store = None
def authorized(request):
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and keys.client(key.strip()) is not None
async def startup():
    global store
    r = Redis(port={redis_port}, decode_responses=True)
    store = DriverStore(r, r)
async def driver(request):
    if not authorized(request):
        return JSONResponse({{"error": "unauthorized"}}, 401)
    try:
        d = params.driver_id(request.path_params["driver_id"])
    except params.BadParameter as exc:
        return JSONResponse(exc.body(), 400)
    found = await store.driver(d)
    return JSONResponse(found) if found else JSONResponse({{"error": "not_found"}}, 404)
async def nearby(request):
    if not authorized(request):
        return JSONResponse({{"error": "unauthorized"}}, 401)
    try:
        q = params.nearby(request.query_params)
    except params.BadParameter as exc:
        return JSONResponse(exc.body(), 400)
    found = await store.nearby(q["lat"], q["lon"], q["radius_m"], q["status"], q["limit"])
    return JSONResponse({{"query": q, "count": len(found), "drivers": found}})
app = Starlette(routes=[Route("/v1/drivers/nearby", nearby), Route("/v1/drivers/{{driver_id}}", driver)],
                on_startup=[startup])
uvicorn.run(app, host="127.0.0.1", port={port}, http="httptools", loop="uvloop", access_log=False, log_level="warning")
""",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def fill(r: redis.Redis, drivers: int) -> None:
    rnd = random.Random(16)
    for start in range(0, drivers, 100):
        chunk = range(start, min(start + 100, drivers))
        keys = [GEO_KEYS[s] for s in STATUSES] + ["drivers:stats"] + [f"driver:bench-api-{i:012d}" for i in chunk]
        args: list[Any] = []
        for i in chunk:
            args += [f"bench-api-{i:012d}", f"{rnd.uniform(CITY[0], CITY[2]):.6f}", f"{rnd.uniform(CITY[1], CITY[3]):.6f}",
                     "2026-12-06T10:00:00.000Z", rnd.choice(STATUSES)]
        r.eval(APPLY, len(keys), *keys, *args)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--drivers", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rastro-frameworks-"))
    redis_port = free_port()
    rs = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
                          stdout=subprocess.DEVNULL)
    digest = hashlib.sha256(f"s:{KEY}".encode()).hexdigest()
    results: list[dict[str, Any]] = []
    try:
        wait_port(redis_port)
        fill(redis.Redis(port=redis_port), args.drivers)
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'api'}:{REPO / 'producer'}", "RASTRO_API_KEY": KEY,
               "BENCH_DRIVERS": str(args.drivers), "BENCH_BOX": ",".join(map(str, CITY))}
        for name, source in SERVERS.items():
            port = free_port()
            server = subprocess.Popen(["/usr/bin/python3", "-c", source.format(port=port, redis_port=redis_port, digest=digest)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                wait_port(port)
                for mode in ("driver", "nearby"):
                    out = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "-s",
                                          str(REPO / "bench" / "api_wrk.lua"), f"http://127.0.0.1:{port}"],
                                         capture_output=True, text=True, env={**env, "BENCH_MODE": mode}, timeout=args.seconds + 60)
                    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
                    run = json.loads(line[len("RESULT "):])
                    errors = run["connect_errors"] + run["read_errors"] + run["write_errors"] + run["status_errors"] + run["timeouts"]
                    row = {"framework": name, "route": mode, "requests_per_s": round(run["requests"] / run["duration_s"]),
                           "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"], "errors": errors}
                    results.append(row)
                    print(f"{time.strftime('%H:%M:%S')} [frameworks] {name}, {mode}: {row['requests_per_s']:,} requests/s, "
                          f"p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, errors {errors}", flush=True)
            finally:
                server.terminate()
                server.wait(10)
    finally:
        rs.terminate()
        rs.wait(10)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api-frameworks.json").write_text(json.dumps(results, indent=2) + "\n")
    with (args.out / "api-frameworks.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(results[0]))
        w.writeheader()
        w.writerows(results)
    first = results[0]["framework"]
    base = {r["route"]: r["requests_per_s"] for r in results if r["framework"] == first}
    print(f"\n| framework | route | requests/s | × {first} | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['framework']} | {r['route']} | {r['requests_per_s']:,} | {r['requests_per_s'] / base[r['route']]:.2f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
