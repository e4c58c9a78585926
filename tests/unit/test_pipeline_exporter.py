"""rastro-exporter's pure parts: lag arithmetic, timestamp parsing and the CLI's input checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "pipeline-exporter"))

from rastro_exporter.cli import main  # noqa: E402
from rastro_exporter.freshness import newest, parse_timestamp  # noqa: E402
from rastro_exporter.lag import lags  # noqa: E402


def test_lag_is_log_end_minus_committed_for_committed_partitions_only() -> None:
    committed = {("t", 0): 90, ("t", 1): -1001, ("t", 2): 10}
    log_end = {("t", 0): 100, ("t", 1): 50, ("t", 2): 10}
    got = [(pl.partition, pl.committed, pl.lag) for pl in lags(committed, log_end, "g")]
    assert got == [(0, 90, 10), (2, 10, 0)]


def test_lag_is_never_negative() -> None:
    assert lags({("t", 0): 120}, {("t", 0): 100}, "g")[0].lag == 0


def test_parse_timestamp_reads_the_contract_format() -> None:
    assert parse_timestamp("1970-01-01T00:00:01.500Z") == 1.5


def test_parse_timestamp_refuses_non_utc() -> None:
    with pytest.raises(ValueError, match="not UTC"):
        parse_timestamp("2026-11-22T10:30:45.123+01:00")


def test_newest_ignores_missing_timestamps() -> None:
    assert newest([None, "2026-11-22T10:30:45.123Z", "2026-11-22T10:30:46.001Z", None]) == "2026-11-22T10:30:46.001Z"
    assert newest([None]) is None


def test_cli_rejects_bootstrap_without_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bootstrap-servers", "kafka1"]) == 2
    assert "'kafka1' needs host:port" in capsys.readouterr().err


def test_cli_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--bootstrap-servers", "kafka1:9092", "--port", "70000"])
    assert exc.value.code == 2
    assert "port 70000 is outside 1..65535" in capsys.readouterr().err
