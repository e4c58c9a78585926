"""Monitoring as files: alert rules pass `promtool test rules` and every alert has a firing test,
the dashboards are built from their source, and the JMX exporter rules are valid YAML."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "roles/prometheus/files/rules"


def promtool() -> str:
    # `make tools` extracts promtool from Debian's prometheus package without installing the server.
    candidates = [os.environ.get("PROMTOOL", ""), str(REPO / ".cache/tools/usr/bin/promtool"), shutil.which("promtool") or ""]
    found = next((c for c in candidates if c and Path(c).exists()), None)
    assert found, "promtool not found: run `make tools`"
    return found


# Every rules file the role installs, each with its promtool unit tests beside it in tests/.
RULE_FILES = sorted(p.name for p in RULES.glob("*.yml"))


def test_every_rules_file_is_installed_and_has_tests() -> None:
    defaults = yaml.safe_load((REPO / "roles/prometheus/defaults/main.yml").read_text())
    assert sorted(Path(f).name for f in defaults["prometheus_alert_rule_files"]) == RULE_FILES
    assert RULE_FILES == ["rastro-alerts.yml", "rastro-fraud-alerts.yml"]
    for name in RULE_FILES:
        assert (RULES / "tests" / name.replace(".yml", ".test.yml")).exists(), name


@pytest.mark.parametrize("name", RULE_FILES)
def test_rules_pass_promtool_check(name: str) -> None:
    proc = subprocess.run([promtool(), "check", "rules", str(RULES / name)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", RULE_FILES)
def test_rules_pass_promtool_unit_tests(name: str) -> None:
    proc = subprocess.run([promtool(), "test", "rules", name.replace(".yml", ".test.yml")], cwd=RULES / "tests",
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", RULE_FILES)
def test_every_alert_has_a_test_where_it_fires(name: str) -> None:
    alerts = {r["alert"] for g in yaml.safe_load((RULES / name).read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "tests" / name.replace(".yml", ".test.yml")).read_text())["tests"]
    fired = {t["alertname"] for case in tests for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert alerts - fired == set(), f"alerts never shown firing in a test: {sorted(alerts - fired)}"
    assert fired - alerts == set(), f"tests for unknown alerts: {sorted(fired - alerts)}"


@pytest.mark.parametrize("name", RULE_FILES)
def test_every_alert_says_what_and_how_bad(name: str) -> None:
    for g in yaml.safe_load((RULES / name).read_text())["groups"]:
        for r in g["rules"]:
            assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
            assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]


def test_dashboards_are_built_from_their_source() -> None:
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "dashboards/build.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_dashboards_use_the_provisioned_datasource_and_fit_the_grid() -> None:
    for path in sorted((REPO / "dashboards").glob("*.json")):
        d = json.loads(path.read_text())
        assert d["uid"].startswith("rastro-")
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for p in d["panels"]:
            assert p["datasource"]["uid"] == "rastro-prometheus"
            assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
            assert p["targets"] and all(t["expr"] for t in p["targets"])


def test_jmx_exporter_rules_name_every_metric() -> None:
    for name in ("kafka.yml", "connect.yml"):
        cfg = yaml.safe_load((REPO / "roles/jmx_exporter/files" / name).read_text())
        assert cfg["includeObjectNames"], name
        for rule in cfg["rules"]:
            # Explicit names only: a catch-all rule would export thousands of series per broker.
            assert rule["name"].startswith("kafka_") and rule["pattern"] != ".*", rule
