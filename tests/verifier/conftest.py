"""Fixtures for the verifier tests: a small GSM-style task written into tmp_path, corpora, deterministic judges."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from datachef.io import load_task
from datachef.llm.base import Completion, LLMClient, LLMError

BENCH = [
    {"question": "Tom has 3 apples and buys 4 more apples at the market. How many apples does Tom have now?",
     "answer": "Tom starts with 3 apples and buys 4 more, so he has 3 + 4 = <<3+4=7>>7 apples now.\n#### 7"},
    {"question": "A train travels 60 miles per hour for 3 hours. How many miles does the train travel in total?",
     "answer": "Each hour the train covers 60 miles, so in 3 hours it travels 60 * 3 = <<60*3=180>>180 "
               "miles.\n#### 180"},
    {"question": "Sara had 12 pencils and gave 5 pencils to her friend. How many pencils does Sara have left?",
     "answer": "Sara starts with 12 pencils and gives away 5 of them, so she has 12 - 5 = <<12-5=7>>7 "
               "pencils left.\n#### 7"},
    {"question": "A baker makes 8 trays of cookies with 12 cookies on each tray. How many cookies does he bake?",
     "answer": "There are 8 trays and each tray holds 12 cookies, so he bakes 8 * 12 = <<8*12=96>>96 "
               "cookies.\n#### 96"},
    # held out from here on
    {"question": "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
                 "for her friends every day with four. How many eggs does she sell at the farmers' market daily?",
     "answer": "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n#### 9"},
    {"question": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does "
                 "it take?",
     "answer": "It takes 2/2 = <<2/2=1>>1 bolt of white fiber.\nSo the total is 2 + 1 = <<2+1=3>>3 bolts.\n#### 3"},
]

GOLD = [
    {"question": f"Maria buys {a} boxes of pens with {b} pens in each box. She gives away {c} pens. "
                 f"How many pens does Maria keep?",
     "solution": f"Maria buys {a} * {b} = {a * b} pens.\nShe keeps {a * b} - {c} = {a * b - c} pens.\n"
                 f"#### {a * b - c}",
     "answer": str(a * b - c)}
    for a, b, c in [(3, 4, 2), (5, 6, 7), (2, 9, 4), (7, 3, 5), (4, 8, 6), (6, 5, 3), (9, 2, 1), (8, 7, 10)]
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def chat(user: str, assistant: str, source: str = "gold", row: int = 0) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
            "meta": {"source": source, "row": row, "ops": ["test"]}}


def gold_chat(i: int) -> dict:
    return chat(GOLD[i]["question"], GOLD[i]["solution"], "gold", i)


def free_task(folder: Path, name: str, instruction: str, benchmark: list[dict], source: str, rows: list[dict], *,
              dev: int) -> Any:
    """A free-answer task in `folder`: its benchmark items and one source (both {question, answer}), loaded."""
    write_jsonl(folder / "bench.jsonl", benchmark)
    write_jsonl(folder / f"{source}.jsonl", rows)
    spec = {"name": name, "instruction": instruction,
            "benchmark": {"name": name, "format": "free", "source": {"id": "bench", "uri": "bench.jsonl"},
                          "fields": {"question": "question", "answer": "answer"}, "dev": dev},
            "sources": [{"id": source, "uri": f"{source}.jsonl"}]}
    (folder / "task.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_task(folder / "task.yaml")


@pytest.fixture
def task_path(tmp_path) -> Path:
    write_jsonl(tmp_path / "bench.jsonl", BENCH)
    write_jsonl(tmp_path / "gold.jsonl", GOLD)
    spec = {
        "name": "mini-gsm",
        "instruction": "Solve grade-school math word problems step by step; end with '#### <number>'.",
        "benchmark": {"name": "MiniGSM", "description": "Short math word problems.", "format": "numeric",
                      "source": {"id": "bench", "uri": "bench.jsonl"}, "answer_pattern": r"####\s*(.+)$",
                      "dev": 4},
        "sources": [{"id": "gold", "uri": "gold.jsonl", "description": "worked solutions"}],
    }
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.fixture
def task(task_path):
    return load_task(task_path)


@pytest.fixture
def write_run(tmp_path) -> Callable[..., Path]:
    """write_run(records, name="run") -> an output folder holding data.jsonl with those records (or raw lines)."""

    def make(records: list[Any] | None, name: str = "run") -> Path:
        out = tmp_path / name
        out.mkdir(parents=True, exist_ok=True)
        if records is not None:
            write_jsonl(out / "data.jsonl", records)
        return out

    return make


class ScriptedJudge(LLMClient):
    """A remote-style judge: answers rubric JSON chosen by `decide(user_prompt) -> grade` (or raw text)."""

    backend = "scripted"

    def __init__(self, decide: Callable[[str], str] | None = None, *, raw: str | None = None,
                 fail: bool = False):
        super().__init__("scripted-judge")
        self.decide = decide or (lambda prompt: "Pass")
        self.raw, self.fail = raw, fail
        self.prompts: list[str] = []
        self.schemas: list[Any] = []

    def _chat_batch(self, batch, params, json_schema):
        if self.fail:
            raise LLMError("connection refused (scripted)")
        self.schemas.append(json_schema)
        out = []
        for messages in batch:
            prompt = messages[-1]["content"]
            self.prompts.append(prompt)
            text = self.raw if self.raw is not None else json.dumps(
                {"reference_answer": "42", "grade": self.decide(prompt), "reason": "scripted"})
            out.append(Completion(text, prompt_tokens=len(prompt.split()), completion_tokens=12))
        return out


class LabelJudge(LLMClient):
    """A local-style judge whose label log-probabilities are fixed (uniform unless given)."""

    backend = "labels-test"

    def __init__(self, logprobs: dict[str, float] | None = None, fail: bool = False):
        super().__init__("label-judge")
        self.logprobs, self.fail, self.calls = logprobs, fail, 0

    def _chat_batch(self, batch, params, json_schema):
        raise LLMError("label judge does not chat")

    def _score_labels(self, messages, labels):
        self.calls += 1
        if self.fail:
            raise LLMError("scoring exploded (scripted)")
        instance = messages[-1]["content"].split("=== Instance to grade ===")[-1]
        reference = "N/A" in instance[:40] or any(b["question"] in instance for b in BENCH)  # calibration prompts
        if self.logprobs is None or reference:
            return {lab: math.log(1 / len(labels)) for lab in labels}
        return {lab: self.logprobs.get(lab, -5.0) for lab in labels}


class HashingEmbedder:
    """Stands in for the sentence-transformers model (no torch): normalised bag of hashed words, so texts sharing
    words are similar. Keeps the default tests fast; the real model is used in test_local_judge_with_tiny_model."""

    dim = 512

    def encode(self, texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False):
        import zlib

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.strip(".,?!:;").encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@pytest.fixture
def fake_embedder(monkeypatch):
    from datachef.verifier import relevance

    monkeypatch.setattr(relevance, "load_embedder", lambda path=None: HashingEmbedder())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Llama with the SmolLM2 tokenizer (built by datachef.llm.models), once per session."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from datachef.llm.models import tiny_random_model

    return tiny_random_model(tmp_path_factory.mktemp("tiny-llm-verifier"))
