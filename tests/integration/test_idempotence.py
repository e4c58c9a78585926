"""site.yml run again on the deployed lab changes nothing, on any host.

make test runs this after every other integration test, the chaos faults included, so one run
proves two things: no task changes something on a re-run (idempotence), and no fault, rolling
restart or rebuild left anything behind. It also leaves the Redis primary where the Sentinels put it
(a failover may have moved it)."""

from __future__ import annotations

import re

from tests.lib.lab import REPO, ansible_playbook, primary_now, recap


def changed_tasks(output: str) -> list[str]:
    """'TASK name: host' for every task a run reports changed."""
    out, task = [], ""
    for line in output.splitlines():
        m = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \*+$", line)
        if m:
            task = m.group(1)
        elif line.startswith("changed: ["):
            out.append(f"{task}: {line.split(']')[0][10:]}")
    return out


def test_site_run_again_changes_nothing() -> None:
    primary = primary_now()
    run = ansible_playbook("site.yml", timeout=1800)
    # The whole log, for whoever has to find what changed.
    (REPO / "artifacts").mkdir(exist_ok=True)
    (REPO / "artifacts" / "site-second.log").write_text(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = recap(run.stdout)
    assert set(counts) >= {"kafka1", "kafka2", "kafka3"}, counts
    changed = {host: c["changed"] for host, c in counts.items() if c["changed"]}
    assert not changed, f"site.yml run again changed something: {changed}: {changed_tasks(run.stdout)}"
    assert primary_now() == primary, f"site.yml moved the Redis primary from {primary} to {primary_now()}"
