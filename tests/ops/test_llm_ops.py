"""llm_map / llm_generate through the engine, with a small deterministic LLMClient (our interface, not a mock of a
client library)."""
from __future__ import annotations

import re

import pytest

from datachef.engine import run_recipe
from datachef.errors import ExecutionError
from datachef.llm.base import Completion, LLMClient, LLMError

from ..conftest import load, math_rows


class Arithmetic(LLMClient):
    """Answers 'What is A plus B?' with a worked solution; says nothing useful for problem numbers divisible by 5."""

    backend = "test"

    def __init__(self):
        super().__init__("arith-1")
        self.prompts: list[str] = []

    def _chat_batch(self, batch, params, json_schema):
        out = []
        for msgs in batch:
            text = msgs[-1]["content"]
            self.prompts.append(text)
            a, b = map(int, re.search(r"(\d+) plus (\d+)", text).groups())
            if a % 5 == 0:
                out.append(Completion("I am not sure.", prompt_tokens=10, completion_tokens=4))
            else:
                body = f"{a} + {b} = {a + b} (seed {params.seed})\n#### {a + b}"
                out.append(Completion(body, prompt_tokens=10, completion_tokens=12))
        return out


class Down(LLMClient):
    backend = "test"

    def _chat_batch(self, batch, params, json_schema):
        raise LLMError("endpoint unreachable")


def _recipe(write_recipe, op, args):
    return write_recipe([
        {"id": "src", "op": "load", "args": {"source": "math"}},
        {"id": "llm", "op": op, "input": "src", "args": args},
        {"id": "chat", "op": "to_chat", "input": "llm", "args": {"user": "{problem}", "assistant": "{cot}"}}])


def test_llm_map_synthesises_and_counts_failures(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(12)}), _recipe(write_recipe, "llm_map", {
        "prompt": "Solve: {problem}", "into": "cot", "parse": "final_answer", "answer_into": "ans", "batch_size": 5}))
    llm = Arithmetic()
    m = run_recipe(recipe, task, tmp_path / "o", cache_dir=tmp_path / "c", progress=False, llm=llm)
    step = {s.id: s for s in m.steps}["llm"]
    assert step.rows_in == 12 and step.rows_out == 9 and step.dropped == {"llm_no_final_answer": 3}
    assert llm.usage.requests == 12 and llm.usage.completion_tokens == 9 * 12 + 3 * 4
    # A re-run is served from the step cache: no new requests.
    run_recipe(recipe, task, tmp_path / "o2", cache_dir=tmp_path / "c", progress=False, llm=llm)
    assert llm.usage.requests == 12


def test_llm_generate_n_samples_per_row(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(6)}), _recipe(write_recipe, "llm_generate", {
        "prompt": "Write a solution for: {problem}", "into": "cot", "n": 3, "seed": 1}))
    m = run_recipe(recipe, task, tmp_path / "o", cache_dir=tmp_path / "c", progress=False, llm=Arithmetic())
    step = {s.id: s for s in m.steps}["llm"]
    assert step.rows_in == 6 and step.rows_out == 18 and m.output.records == 18
    import json

    recs = [json.loads(line) for line in open(tmp_path / "o" / "data.jsonl")]
    assert sorted({r["meta"]["sample"] for r in recs}) == [0, 1, 2]
    seeds = {re.search(r"seed (\d+)", r["messages"][1]["content"]).group(1) for r in recs if "seed" in
             r["messages"][1]["content"]}
    assert len(seeds) == 3  # each sample drew its own seed


def test_unreachable_llm_fails_the_step_without_output(make_task, write_recipe, tmp_path):
    task, recipe = load(make_task({"math": math_rows(3)}), _recipe(write_recipe, "llm_map", {
        "prompt": "Solve: {problem}", "into": "cot"}))
    with pytest.raises(ExecutionError, match="step 'llm'.*endpoint unreachable"):
        run_recipe(recipe, task, tmp_path / "o", cache_dir=tmp_path / "c", progress=False, llm=Down("m"))
    assert not (tmp_path / "o").exists()
