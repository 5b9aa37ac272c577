"""The whole pool built once per test session (in memory): several test modules check it."""
from __future__ import annotations

import pytest

from datachef.pool import all_tasks, build_files


@pytest.fixture(scope="session")
def pool_files() -> dict[str, dict[str, bytes]]:
    return {t.name: build_files(t.name, 0) for t in all_tasks()}
