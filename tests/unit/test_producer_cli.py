"""The command line: deterministic generation, clear errors and exit codes (no Kafka needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", "-m", "rastro_producer", *args], cwd=REPO / "producer",
                          capture_output=True, text=True, timeout=60)


def test_generate_is_deterministic_with_seed() -> None:
    a = cli("generate", "--count", "300", "--drivers", "30", "--seed", "5")
    b = cli("generate", "--count", "300", "--drivers", "30", "--seed", "5")
    assert a.returncode == 0 and a.stdout == b.stdout
    lines = [json.loads(x) for x in a.stdout.splitlines()]
    assert len(lines) == 300 and len({u["driver_id"] for u in lines}) == 30


def test_send_refuses_invalid_update_before_touching_kafka() -> None:
    run = cli("send", "--bootstrap-servers", "127.0.0.1:1", "--driver-id", "d1",
              "--latitude", "91", "--longitude", "0")
    assert run.returncode == 2
    assert "latitude: must be between -90 and 90 (got 91.0)" in run.stderr


def test_send_refuses_unknown_status() -> None:
    run = cli("send", "--bootstrap-servers", "127.0.0.1:1", "--driver-id", "d1",
              "--latitude", "1", "--longitude", "2", "--status", "napping")
    assert run.returncode == 2
    assert "status: must be one of available, busy, offline (got 'napping')" in run.stderr


def test_bad_arguments_exit_2_with_the_value() -> None:
    run = cli("run", "--drivers", "-5")
    assert run.returncode == 2
    assert "--drivers: must not be negative (got '-5')" in run.stderr
    run = cli("run", "--bbox", "1,2")
    assert run.returncode == 2 and "got '1,2'" in run.stderr


def test_replay_of_missing_file_is_an_error() -> None:
    run = cli("replay", "--bootstrap-servers", "127.0.0.1:1", "/nonexistent/updates.jsonl")
    assert run.returncode == 2
    assert "/nonexistent/updates.jsonl" in run.stderr


def test_a_bad_shard_is_refused_with_the_value() -> None:
    for value, message in (("2/2", "needs N >= 1 and 0 <= I < N (got '2/2')"), ("a/b", "expected I/N, e.g. 0/2 (got 'a/b')"),
                           ("0/0", "needs N >= 1 and 0 <= I < N (got '0/0')")):
        run = cli("run", "--bootstrap-servers", "127.0.0.1:1", "--shard", value)
        assert run.returncode == 2 and message in run.stderr, run.stderr


def test_a_shard_without_drivers_is_refused() -> None:
    run = cli("run", "--bootstrap-servers", "127.0.0.1:1", "--drivers", "2", "--shard", "3/4", "--metrics-port", "0")
    assert run.returncode == 2 and "no drivers left for this shard (--drivers 2)" in run.stderr, run.stderr
