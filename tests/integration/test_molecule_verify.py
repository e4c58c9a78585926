"""Every molecule scenario's verify playbook, against the lab site.yml deployed: the roles' own
assertions hold for the roles as site.yml composes them. (The scenarios' whole sequence, with a
converge and an idempotence run of each role on its own, is `make molecule`.)"""

from __future__ import annotations

import pytest

from tests.lib.lab import REPO, ansible_playbook, recap

SCENARIOS = sorted(p.parent.name for p in (REPO / "molecule").glob("*/verify.yml"))


def test_every_scenario_has_a_verify_playbook() -> None:
    scenarios = {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")} - {"shared"}
    assert scenarios and scenarios == set(SCENARIOS), (scenarios, SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_verify_passes_on_the_deployed_lab(scenario: str) -> None:
    run = ansible_playbook(f"molecule/{scenario}/verify.yml", timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = recap(run.stdout)
    assert counts and all(c["failed"] == 0 and c["unreachable"] == 0 for c in counts.values()), counts
    assert sum(c["ok"] for c in counts.values()) > 0, f"{scenario}: verify ran no task\n{run.stdout[-2000:]}"
