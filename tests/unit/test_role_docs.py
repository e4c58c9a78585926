"""Every role documents its interface: a README naming every variable of defaults/main.yml, and an
argument spec declaring each of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if (p / "defaults/main.yml").exists())


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_readme_and_argument_spec_cover_every_default(role: Path) -> None:
    defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
    readme = (role / "README.md").read_text()
    # Every entry point's options (a role used through tasks_from has no `main`).
    entry_points = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"].values()
    spec = {name for entry in entry_points for name in entry.get("options", {})}
    assert not [v for v in defaults if f"`{v}`" not in readme], f"{role.name}/README.md misses variables"
    assert not [v for v in defaults if v not in spec], f"{role.name}/meta/argument_specs.yml misses variables"
    assert all(v.startswith(role.name.split("_")[0]) for v in defaults), "variables must carry the role's prefix"
