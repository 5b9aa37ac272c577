"""Shared fixtures: small tasks with jsonl sources written into tmp_path."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from datachef.io import load_recipe, load_task

BENCH = [
    {"question": "Tom has 3 apples and buys 4 more apples at the market. How many apples does Tom have now?",
     "answer": "3 + 4 = 7\n#### 7"},
    {"question": "A train travels 60 miles per hour for 3 hours. How many miles does the train travel?",
     "answer": "60 * 3 = 180\n#### 180"},
    {"question": "Sara had 12 pencils and gave 5 pencils to her friend. How many pencils does Sara have left?",
     "answer": "12 - 5 = 7\n#### 7"},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def math_rows(n: int, start: int = 0) -> list[dict]:
    return [{"problem": f"What is {i} plus {i + 1}? Explain the steps carefully for problem {i}.",
             "solution": f"We add {i} and {i + 1}.\n{i} + {i + 1} = {2 * i + 1}\n#### {2 * i + 1}"}
            for i in range(start, start + n)]


@pytest.fixture
def make_task(tmp_path):
    """make_task({"src_id": rows, ...}) -> path of a task.yaml whose sources are those rows as jsonl files."""

    def make(sources: dict[str, list[Any]], bench: list[dict] | None = None, extra_sources=None) -> Path:
        write_jsonl(tmp_path / "bench.jsonl", bench or BENCH)
        specs = [{"id": sid, "uri": f"sources/{sid}.jsonl", "description": f"test source {sid}"}
                 for sid in sources]
        for sid, rows in sources.items():
            write_jsonl(tmp_path / "sources" / f"{sid}.jsonl", rows)
        specs.extend(extra_sources or [])
        task = {"name": "toy", "instruction": "Solve arithmetic word problems.",
                "benchmark": {"name": "toybench", "format": "numeric", "dev": 1,
                              "source": {"id": "bench", "uri": "bench.jsonl"},
                              "answer_pattern": "####\\s*(.+)$"},
                "sources": specs, "budget": {"train_samples": 100, "reward_samples": 10}}
        p = tmp_path / "task.yaml"
        p.write_text(yaml.safe_dump(task))
        return p

    return make


@pytest.fixture
def write_recipe(tmp_path):
    def write(steps: list[dict], output: str | None = None, name: str = "recipe.yaml") -> Path:
        body: dict[str, Any] = {"name": "test", "plan": {"workflow": "test"}, "steps": steps}
        if output:
            body["output"] = output
        p = tmp_path / name
        p.write_text(yaml.safe_dump(body))
        return p

    return write


CHAT = {"id": "chat", "op": "to_chat", "input": None,
        "args": {"user": "{problem}", "assistant": "{solution}"}}


def chat_after(step_id: str) -> dict:
    return {**CHAT, "input": step_id}


def load(path_task: Path, path_recipe: Path):
    return load_task(path_task), load_recipe(path_recipe)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole test session (it takes seconds to start): 2 CPUs, a small object store."""
    from datachef.engine.ray_session import ray_session

    with ray_session(num_cpus=2, object_store_mb=256) as ray:
        yield ray
