"""A second site.yml on a deployed cluster changes nothing, on any host."""

from __future__ import annotations

import re

from tests.lib.lab import REPO, ansible_playbook, recap


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


def test_second_site_run_changes_nothing() -> None:
    run = ansible_playbook("site.yml")
    # The whole log, for whoever has to find what changed.
    (REPO / "artifacts").mkdir(exist_ok=True)
    (REPO / "artifacts" / "site-second.log").write_text(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = recap(run.stdout)
    assert set(counts) >= {"kafka1", "kafka2", "kafka3"}, counts
    changed = {host: c["changed"] for host, c in counts.items() if c["changed"]}
    assert not changed, f"second run changed something: {changed}: {changed_tasks(run.stdout)}"
