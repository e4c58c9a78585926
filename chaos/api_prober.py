#!/usr/bin/python3
"""Chaos API prober: while chaos.yml breaks something, ask the dispatch API at a fixed rate — nearby
searches and driver lookups, alternately — as a client that knows every API host and moves on to the
next when one does not answer (rastro_dispatch.client). Counts every request: answered by the first
host tried, answered after moving on (and why the others did not answer: refused, timed out, a 5xx
such as Redis unavailable), or not answered by any host. Writes api.json into --report-dir.

The fault's timing comes from --fault-file, as for the verifier."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "producer"), str(REPO / "api")]

from rastro_dispatch.client import DispatchClient, NoHostAnswered  # noqa: E402
from chaos.probing import percentile, read_fault  # noqa: E402

# The producer's city (São Paulo): its drivers are the ones asked for.
CENTRE = (-23.55, -46.63)


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [api-prober] {msg}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--credentials", type=Path, required=True, help="credentials/<inventory>/api.properties")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--rate", type=float, default=100, help="requests/s")
    ap.add_argument("--timeout", type=float, default=1.0, help="seconds a host has to answer before the next is asked")
    ap.add_argument("--fault-file", type=Path, required=True)
    ap.add_argument("--report-dir", type=Path, required=True)
    args = ap.parse_args()
    if args.rate <= 0 or args.seconds <= 0:
        ap.error(f"--rate and --seconds must be positive (got {args.rate}, {args.seconds})")
    api = DispatchClient.from_credentials(args.credentials, timeout=args.timeout)
    first = api.get("/v1/drivers/nearby", {"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 50000, "status": "any", "limit": 100})
    ids = [d["driver_id"] for d in first.body["drivers"]] or ["driver-0000"]
    log(f"{args.rate:.0f} requests/s for {args.seconds:.0f} s over {len(api.urls)} hosts, {len(ids)} drivers")
    records: list[dict[str, Any]] = []
    start = time.time()
    i = 0
    while time.time() - start < args.seconds:
        wait = start + i / args.rate - time.time()
        if wait > 0:
            time.sleep(wait)
        if i % 2:
            path, params = f"/v1/drivers/{ids[i % len(ids)]}", None
        else:
            path, params = "/v1/drivers/nearby", {"lat": CENTRE[0] + (i % 7 - 3) * 0.01, "lon": CENTRE[1], "radius_m": 2000}
        t0 = time.time()
        try:
            a = api.get(path, params)
            records.append({"t": t0, "ms": (time.time() - t0) * 1000, "status": a.status, "host": a.host,
                            "failed_over": a.failed_over})
        except NoHostAnswered as exc:
            records.append({"t": t0, "ms": (time.time() - t0) * 1000, "status": None, "host": None, "error": str(exc),
                            "failed_over": str(exc).split("; ")})
        i += 1
    fault = read_fault(args.fault_file)
    injected, restored = fault.get("injected"), fault.get("restored")
    answered = [r for r in records if r["status"] is not None and r["status"] < 500]
    moved = [r for r in answered if r["failed_over"]]
    reasons: dict[str, int] = {}
    for r in records:
        for why in r["failed_over"]:
            kind = "HTTP 5xx" if "HTTP 5" in why else ("refused" if "refused" in why.lower() else
                                                    ("timed out" if "timed out" in why.lower() else "other"))
            reasons[kind] = reasons.get(kind, 0) + 1
    during = [r["ms"] for r in records if injected and r["t"] >= injected and (not restored or r["t"] <= restored)]
    hosts: dict[str, int] = {}
    for r in answered:
        hosts[r["host"]] = hosts.get(r["host"], 0) + 1
    report = {
        "requests": len(records), "answered": len(answered), "unanswered": len(records) - len(answered),
        "answered_after_moving_on": len(moved), "why_hosts_did_not_answer": reasons, "answered_by_host": hosts,
        "rate": round(len(records) / max(time.time() - start, 1e-9), 1), "p50_ms": percentile([r["ms"] for r in records], 0.5, 0.0),
        "p99_ms": percentile([r["ms"] for r in records], 0.99, 0.0), "p99_during_fault_ms": percentile(during, 0.99, 0.0),
        "max_ms": percentile([r["ms"] for r in records], 1.0, 0.0),
        "errors": [r["error"] for r in records if r.get("error")][:10],
    }
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "api.json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"{report['requests']} requests, {report['unanswered']} unanswered, {report['answered_after_moving_on']} answered "
        f"after moving on ({reasons}), p99 {report['p99_ms']} ms (during the fault {report['p99_during_fault_ms']} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
