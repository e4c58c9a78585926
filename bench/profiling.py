"""Where the CPU goes, for bench/scale_bench.py --profile: Java Flight Recorder on a lab host's JVM
(attached from the controller's jcmd: the lab hosts' processes are this machine's), summarised as
the methods and packages that were on CPU most often; cProfile for the Python producer."""

from __future__ import annotations

import json
import os
import re
import pstats
import subprocess
from collections import Counter
from pathlib import Path

# Packages grouped under one name, most specific first.
GROUPS = (
    ("sun.security.ssl", "TLS (JSSE)"), ("javax.crypto", "TLS (JSSE)"), ("com.sun.crypto", "TLS (JSSE)"),
    ("sun.security", "TLS (JSSE)"), ("sun.nio.ch", "network I/O"), ("java.nio", "network I/O"),
    ("org.apache.kafka.common.network", "Kafka network"), ("org.apache.kafka.common.security", "Kafka network"),
    ("org.apache.kafka.common.record", "Kafka records"), ("org.apache.kafka.common.compress", "compression"),
    ("net.jpountz", "compression"), ("com.github.luben", "compression"), ("org.xerial", "compression"),
    ("org.apache.kafka.clients.consumer", "Kafka consumer"), ("org.apache.kafka.connect", "Connect runtime"),
    ("com.fasterxml.jackson", "JSON parsing (Jackson)"), ("redis.clients", "Redis client (Jedis)"),
    ("io.rastro", "rastro sink"), ("kafka.", "Kafka broker"), ("org.apache.kafka.storage", "Kafka broker"),
    ("org.apache.kafka.server", "Kafka broker"), ("org.apache.kafka.raft", "Kafka broker"),
    ("org.apache.kafka.metadata", "Kafka broker"), ("io.prometheus", "JMX exporter"), ("javax.management", "JMX exporter"),
    ("com.sun.jmx", "JMX exporter"), ("com.yammer.metrics", "Kafka metrics"), ("org.apache.kafka.common.metrics", "Kafka metrics"),
    ("org.apache.kafka.common.message", "Kafka protocol"), ("org.apache.kafka.common.protocol", "Kafka protocol"),
    ("org.apache.kafka.common.requests", "Kafka protocol"), ("org.apache.kafka.clients", "Kafka clients"),
    ("org.apache.kafka.", "Kafka (other)"), ("scala.", "Kafka broker"),
    ("java.util.zip", "CRC"), ("java.", "JDK"), ("jdk.", "JDK"), ("sun.", "JDK"),
)


def group(frame: str) -> str:
    frame = frame.replace("/", ".")  # JFR names types with slashes
    return next((name for prefix, name in GROUPS if frame.startswith(prefix)), "other")


def owner(frames: list[dict]) -> str:
    """The group a sample is charged to: TLS and network I/O as themselves, other JDK code (collections,
    regex, ...) to the first caller outside the JDK."""
    for f in frames:
        g = group(f"{f['method']['type']['name']}.{f['method']['name']}")
        if g != "JDK":
            return g
    return "JDK"


def pid_of(pattern: str, host: str) -> int:
    """The controller-side pid of a process on a lab host whose command line matches `pattern`
    (a lab host's processes are this machine's; its root file system names the host)."""
    for line in subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split():
        try:
            if Path(f"/proc/{line}/root/etc/hostname").read_text().strip() == host:
                return int(line)
        except OSError:
            continue
    raise RuntimeError(f"no process matching {pattern!r} on {host}")


def jfr_start(pid: int, name: str, seconds: int) -> str:
    """Start a profiling recording; the JVM writes it into its own /tmp after `seconds`."""
    path = f"/tmp/rastro-{name}.jfr"
    out = subprocess.run(["jcmd", str(pid), "JFR.start", f"name={name}", "settings=profile", f"duration={seconds}s",
                          f"filename={path}"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0 or "Started recording" not in out.stdout:
        raise RuntimeError(f"JFR.start on pid {pid}: {out.stdout}{out.stderr}")
    return path


def jfr_top(pid: int, path: str, top: int = 12) -> dict:
    """Self samples per method and per package group, from the recording the JVM wrote."""
    local = Path(f"/proc/{pid}/root{path}")
    out = subprocess.run(["jfr", "print", "--json", "--events", "jdk.ExecutionSample", str(local)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"jfr print {local}: {out.stderr[-500:]}")
    events = json.loads(out.stdout)["recording"]["events"]
    methods: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for e in events:
        frames = (e["values"].get("stackTrace") or {}).get("frames") or []
        if not frames:
            continue
        m = frames[0]["method"]
        name = f"{m['type']['name'].replace('/', '.')}.{m['name']}"
        methods[name] += 1
        groups[owner(frames)] += 1
        # Thread names without their numbers: "ReplicaFetcherThread-0-1" and "-0-3" are one kind.
        thread = (e["values"].get("sampledThread") or {}).get("javaName") or "?"
        threads[re.sub(r"[-\d]+$", "", thread.split(" | ")[0])] += 1
    total = sum(methods.values()) or 1
    try:
        os.unlink(local)
    except OSError:
        pass
    return {"samples": total,
            "groups": [(g, round(100 * n / total, 1)) for g, n in groups.most_common()],
            "threads": [(t, round(100 * n / total, 1)) for t, n in threads.most_common(8)],
            "methods": [(m, round(100 * n / total, 1)) for m, n in methods.most_common(top)]}


def cprofile_top(path: str, top: int = 12) -> dict:
    """Functions by own time (tottime) from a cProfile dump."""
    stats = pstats.Stats(path)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])  # (cc, nc, tt, ct, callers)
    total = sum(v[2] for v in stats.stats.values()) or 1
    return {"seconds": round(total, 2),
            "functions": [(f"{Path(f).name}:{line}({fn})", round(100 * v[2] / total, 1)) for (f, line, fn), v in rows[:top]]}
