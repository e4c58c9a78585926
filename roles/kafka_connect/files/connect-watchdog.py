#!/usr/bin/python3
"""kafka-connect-watchdog: clears connector and task states that Kafka Connect leaves stuck.

Run every kafka_connect_watchdog_interval seconds by a systemd timer on each worker. It reads this
worker's REST API (GET /connectors?expand=status) and, for what has stayed in the same bad state
since its previous run (so a state in passing is left alone):

- a connector instance UNASSIGNED while its tasks run (after a worker is killed, Connect can leave
  the instance's status so for good): POST /connectors/<name>/restart (the instance only);
- a task FAILED: POST /connectors/<name>/restart?includeTasks=true&onlyFailed=true, at most
  --max-restarts times per --window seconds per connector, each restart after the previous one waiting
  twice as long (--backoff, then 2x, 4x...), so a crash loop does not hammer Kafka or Redis. A task
  that keeps failing is a real failure: it is left FAILED (the ConnectTaskNotRunning alert says so)
  and the log says why.

State between runs: --state-file. Credentials: the environment (CONNECT_URL, CONNECT_USER,
CONNECT_PASSWORD, CONNECT_CA_FILE), never the command line."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger("kafka-connect-watchdog")


def request(method: str, path: str) -> Any:
    url = os.environ["CONNECT_URL"].rstrip("/") + path
    req = urllib.request.Request(url, method=method)
    user, password = os.environ.get("CONNECT_USER", ""), os.environ.get("CONNECT_PASSWORD", "")
    if user:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    ca = os.environ.get("CONNECT_CA_FILE")
    ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    with urllib.request.urlopen(req, timeout=15, context=ctx) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def problems(status: dict[str, Any]) -> dict[str, str]:
    """connector name -> 'unassigned' (instance UNASSIGNED, tasks running) or 'failed' (a task FAILED)."""
    out = {}
    for name, c in status.items():
        st = c.get("status", {})
        tasks = [t.get("state") for t in st.get("tasks", [])]
        if "FAILED" in tasks or st.get("connector", {}).get("state") == "FAILED":
            out[name] = "failed"
        elif st.get("connector", {}).get("state") == "UNASSIGNED" and tasks and all(t == "RUNNING" for t in tasks):
            out[name] = "unassigned"
    return out


def decide(now: float, seen: dict[str, str], previous: dict[str, Any], max_restarts: int,
           window: float, backoff: float = 0.0) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The restarts to make now, and the state to keep: a problem acts only when the previous run saw
    the same one; failed tasks are restarted at most max_restarts times per window, the n-th restart
    at least backoff * 2**(n-2) seconds after the one before."""
    actions: list[tuple[str, str]] = []
    state: dict[str, Any] = {"seen": seen, "restarts": {}}
    for name, restarts in previous.get("restarts", {}).items():
        recent = [t for t in restarts if now - t < window]
        if recent:
            state["restarts"][name] = recent
    for name, problem in seen.items():
        if previous.get("seen", {}).get(name) != problem:
            continue
        if problem == "unassigned":
            actions.append((name, "unassigned"))
        elif len(state["restarts"].get(name, [])) < max_restarts:
            done = state["restarts"].get(name, [])
            if done and now - done[-1] < backoff * 2 ** (len(done) - 1):
                continue
            actions.append((name, "failed"))
            state["restarts"].setdefault(name, []).append(now)
        else:
            actions.append((name, "give-up"))
    return actions, state


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="kafka-connect-watchdog", description=__doc__.split("\n\n")[0])
    ap.add_argument("--state-file", default="/var/lib/kafka-connect-watchdog/state.json")
    ap.add_argument("--max-restarts", type=int, default=3, help="restarts of a connector's failed tasks per window")
    ap.add_argument("--window", type=float, default=3600.0, help="seconds")
    ap.add_argument("--backoff", type=float, default=60.0,
                    help="seconds between the first and the second restart, doubled for each next one")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if "CONNECT_URL" not in os.environ:
        log.error("CONNECT_URL is not set")
        return 2
    try:
        status = request("GET", "/connectors?expand=status")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.info("worker REST not answering (%s): nothing to do", exc)
        return 0
    state_file = Path(args.state_file)
    try:
        previous = json.loads(state_file.read_text())
    except (OSError, ValueError):
        previous = {}
    actions, state = decide(time.time(), problems(status), previous, args.max_restarts, args.window, args.backoff)
    for name, what in actions:
        quoted = urllib.parse.quote(name, safe="")
        try:
            if what == "unassigned":
                request("POST", f"/connectors/{quoted}/restart")
                log.warning("connector %s: instance UNASSIGNED while its tasks run, twice in a row: restarted it", name)
            elif what == "failed":
                request("POST", f"/connectors/{quoted}/restart?includeTasks=true&onlyFailed=true")
                log.warning("connector %s: failed tasks restarted (%d of %d in %.0f s)", name,
                            len(state["restarts"][name]), args.max_restarts, args.window)
            else:
                log.error("connector %s: tasks failed again after %d restarts within %.0f s: a real failure, "
                          "left FAILED (see the task's trace in GET /connectors/%s/status)", name,
                          args.max_restarts, args.window, name)
        except (urllib.error.URLError, OSError) as exc:
            log.warning("connector %s: restart refused (%s)", name, exc)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
