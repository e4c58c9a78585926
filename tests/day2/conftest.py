from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# The integration suite's fixtures, on the Day-2 inventory (tests.lib.lab reads RASTRO_INVENTORY).
from tests.integration.conftest import admin  # noqa: E402,F401
