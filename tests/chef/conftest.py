from __future__ import annotations

import pytest

from datachef.io import load_task, task_base_dir
from datachef.kitchens import prepare_kitchen
from datachef.sources import load_benchmark, open_source, profile_source, render_profiles


@pytest.fixture(scope="session")
def kitchen(tmp_path_factory):
    """The gsm8k kitchen, its profiles and dev set (built once per test session)."""
    d = tmp_path_factory.mktemp("kitchen")
    task = load_task(prepare_kitchen("gsm8k", d))
    profiles = [profile_source(open_source(s, task_base_dir(task))) for s in task.sources]
    dev, _ = load_benchmark(task, task_base_dir(task))
    return {"dir": d, "task": task, "profiles": profiles, "text": render_profiles(profiles), "dev": dev}
