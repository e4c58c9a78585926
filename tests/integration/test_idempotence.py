"""A second site.yml on a deployed cluster changes nothing, on any host."""

from __future__ import annotations

from tests.lib.lab import ansible_playbook, recap


def test_second_site_run_changes_nothing() -> None:
    run = ansible_playbook("site.yml")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    counts = recap(run.stdout)
    assert set(counts) >= {"kafka1", "kafka2", "kafka3"}, counts
    changed = {host: c["changed"] for host, c in counts.items() if c["changed"]}
    assert not changed, f"second run changed something: {changed}\n{run.stdout[-4000:]}"
