from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from confluent_kafka.admin import AdminClient  # noqa: E402

from tests.lib.lab import kafka_conf  # noqa: E402


@pytest.fixture(scope="session")
def admin() -> AdminClient:
    return AdminClient(kafka_conf())
