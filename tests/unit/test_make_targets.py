"""The Makefile runs every integration suite somewhere: a test file or chaos fault taken out of
make test (to keep it within its 60 minutes) must land in a target of its own, not vanish."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO / "Makefile").read_text()


def recipe(target: str) -> str:
    """The recipe lines of a target (the tab-indented lines after `target:`)."""
    m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", MAKEFILE, re.MULTILINE)
    assert m, f"no target {target} in the Makefile"
    return m.group(1)


def chaos_cases() -> set[str]:
    source = (REPO / "tests" / "integration" / "test_chaos.py").read_text()
    return set(re.findall(r'^\s+\("([a-z-]+)", "[^"]*", \d+, \[', source, re.MULTILINE))


def test_every_integration_file_is_run_by_a_target() -> None:
    files = {p.name for p in (REPO / "tests" / "integration").glob("test_*.py")}
    named = set(re.findall(r"tests/integration/(test_\w+\.py)", MAKEFILE))
    assert files and files <= named, f"not run by any make target: {sorted(files - named)}"


def test_make_test_runs_the_redis_faults_and_test_chaos_runs_every_fault() -> None:
    cases = chaos_cases()
    assert {"redis-kill", "redis-wipe", "kill", "stop"} <= cases, cases
    m = re.search(r"^CHAOS_IN_TEST := (.*)$", MAKEFILE, re.MULTILINE)
    assert m, "CHAOS_IN_TEST is not set"
    in_test = set(m.group(1).split())
    # Issue 13: both Redis faults are part of make test; a name that is no case would select nothing.
    assert {"redis-kill", "redis-wipe"} <= in_test <= cases, (in_test, cases)
    assert "$(CHAOS_IN_TEST)" in recipe("integration")
    # The whole file (every parametrized fault), then the site.yml that must change nothing.
    chaos = recipe("test-chaos")
    assert "tests/integration/test_chaos.py " in chaos and "test_idempotence.py" in chaos, chaos


def test_make_test_ends_with_site_run_again_the_bench_smoke_and_the_secret_check() -> None:
    files = re.findall(r"tests/integration/(test_[\w.:\[\]-]+)", recipe("integration").replace('"', ""))
    assert files[-3:] == ["test_idempotence.py", "test_bench_scale.py",
                          "test_security.py::test_no_secret_under_artifacts"], files
    assert "tests/integration/test_molecule_verify.py" in recipe("molecule-verify")


def assert_test_exists(node: str) -> None:
    """A pytest node id `path::name` the Makefile names is a test that exists."""
    path, _, name = node.partition("::")
    assert (REPO / path).exists() and f"def {name}(" in (REPO / path).read_text(), f"no test {name} in {path}"


def test_the_ca_replacement_unit_test_moved_to_test_rotation_not_away() -> None:
    m = re.search(r"^CA_ROTATION_UNIT := (\S+::\w+)$", MAKEFILE, re.MULTILINE)
    assert m, "CA_ROTATION_UNIT names no test as file::test"
    assert_test_exists(m.group(1))
    assert "--deselect $(CA_ROTATION_UNIT)" in recipe("unit")
    assert "$(CA_ROTATION_UNIT) tests/integration/test_rotation.py" in recipe("test-rotation")


def test_the_disruptions_taken_out_of_make_test_run_in_test_chaos() -> None:
    m = re.search(r"^DISRUPTIONS := ((?:.*\\\n)*.*)$", MAKEFILE, re.MULTILINE)
    assert m, "DISRUPTIONS is not set"
    ids = m.group(1).replace("\\\n", " ").split()
    assert len(ids) == 4, ids
    for node in ids:
        assert_test_exists(node)
    assert "$(foreach t,$(DISRUPTIONS),--deselect $(t))" in recipe("integration")
    assert "$(DISRUPTIONS) tests/integration/test_chaos.py" in recipe("test-chaos")
