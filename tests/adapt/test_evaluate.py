"""Benchmark evaluation end to end on a tiny random model: numeric, MCQ and code tasks built in tmp_path."""
from __future__ import annotations

import json
import math

import pytest
import yaml

from datachef.adapt import AdaptError, EvalResult, evaluate
from datachef.adapt.evaluate import build_prompt, gold_target, resolve_checkpoint
from datachef.io import load_task


def test_numeric_eval_end_to_end(tiny_model, numeric_task, tmp_path):
    task = load_task(numeric_task)
    out = tmp_path / "eval"
    r = evaluate(str(tiny_model), task, batch_size=4, max_new_tokens=8, out=out, dtype="float32")
    assert isinstance(r, EvalResult)
    assert r.n == 6 and r.split == "held_out" and r.metric == "accuracy"  # 8 items, 2 dev
    assert 0.0 <= r.score <= 1.0 and r.correct == round(r.score * r.n)
    assert r.nll is not None and math.isfinite(r.nll) and r.nll > 0 and r.nll_tokens > 0
    # A random model over a 49K vocabulary: per-token NLL near ln(49152) ~ 10.8.
    assert 5 < r.nll < 20
    saved = json.loads((out / "eval.json").read_text())
    assert saved["score"] == r.score and saved["n"] == 6
    items = [json.loads(line) for line in (out / "eval_items.jsonl").read_text().splitlines()]
    assert len(items) == 6 and items[0]["gold"] == "5" and items[0]["question"] == "What is 2 plus 3?"
    assert all(math.isfinite(i["nll"]) for i in items)

    # limit and the dev split; batch size does not change greedy results or the NLL.
    r2 = evaluate(str(tiny_model), task, batch_size=1, max_new_tokens=8, out=tmp_path / "e2", limit=2, dtype="float32")
    assert r2.n == 2
    first = [json.loads(line) for line in (tmp_path / "e2" / "eval_items.jsonl").read_text().splitlines()]
    assert [i["completion"] for i in first] == [i["completion"] for i in items[:2]]
    assert first[0]["nll"] == pytest.approx(items[0]["nll"], rel=1e-4)
    assert evaluate(str(tiny_model), task, max_new_tokens=2, out=tmp_path / "e3", split="dev").n == 2


def _task(tmp_path, fmt: str, items: list[dict], fields: dict) -> object:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(x) + "\n" for x in items))
    (tmp_path / "s.jsonl").write_text('{"x": 1}\n')
    spec = {"name": f"t-{fmt}", "instruction": "x", "sources": [{"id": "s", "uri": "s.jsonl"}],
            "benchmark": {"name": "b", "format": fmt, "dev": 1, "source": {"id": "b", "uri": "b.jsonl"},
                          "fields": fields}}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    return load_task(tmp_path / "task.yaml")


def test_mcq_and_code_tasks(tiny_model, tmp_path):
    mcq = [{"q": f"Which number is {i}?", "a": str(i), "b": str(i + 1), "c": str(i + 2), "d": str(i + 3),
            "ans": "A"} for i in range(4)]
    task = _task(tmp_path / "m", "mcq", mcq, {"question": "q", "answer": "ans", "choices": ["a", "b", "c", "d"]})
    prompt = build_prompt(task, mcq[0])
    assert "A. 0" in prompt and "D. 3" in prompt and "letter" in prompt
    assert gold_target(task, mcq[0]) == "A"
    r = evaluate(str(tiny_model), task, max_new_tokens=4, out=tmp_path / "em")
    assert r.n == 3 and 0 <= r.score <= 1 and math.isfinite(r.nll)

    code = [{"prompt": f'def f{i}(x):\n    """Return x + {i}."""\n', "canonical_solution": f"    return x + {i}\n",
             "entry_point": f"f{i}", "test": f"def check(c):\n    assert c(1) == {1 + i}\n"} for i in range(3)]
    task = _task(tmp_path / "c", "code", code, {"question": "prompt", "answer": "canonical_solution"})
    r = evaluate(str(tiny_model), task, max_new_tokens=4, out=tmp_path / "ec", code_timeout=5)
    assert r.metric == "pass@1" and r.n == 2 and r.score == 0.0  # a random model writes no working code
    items = [json.loads(line) for line in (tmp_path / "ec" / "eval_items.jsonl").read_text().splitlines()]
    assert {i["extracted"] for i in items} <= {"failed", "timeout"}


def test_checkpoint_resolution_and_errors(tiny_model, numeric_task, tmp_path):
    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    (run / "final" / "config.json").write_text("{}")
    assert resolve_checkpoint(run) == (str(run / "final"), run)
    assert resolve_checkpoint(tiny_model) == (str(tiny_model), tiny_model)
    assert resolve_checkpoint("org/model") == ("org/model", None)
    with pytest.raises(AdaptError, match="not a model folder.*nor a `datachef train` output"):
        resolve_checkpoint(tmp_path)
    task = load_task(numeric_task)
    with pytest.raises(AdaptError, match=r"\{question\}"):
        evaluate(str(tiny_model), task, prompt_template="no placeholder", out=tmp_path / "e")
    with pytest.raises(AdaptError, match="unknown dtype"):
        evaluate(str(tiny_model), task, dtype="int8", out=tmp_path / "e")


def test_a_lora_adapter_folder_is_evaluated_merged_into_the_base_it_names(tiny_model, numeric_task, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from datachef.llm.lora import fit_lora, write_adapter

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32)
    tuned = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32)
    with torch.no_grad():  # a rank-2 change of one projection, which a rank-2 adapter carries exactly
        w = tuned.model.layers[0].self_attn.q_proj.weight
        w += 0.5 * torch.randn(w.shape[0], 2, generator=torch.Generator().manual_seed(1)) @ torch.randn(2, w.shape[1])
    merged = tmp_path / "merged"
    tuned.save_pretrained(str(merged))
    AutoTokenizer.from_pretrained(str(tiny_model)).save_pretrained(str(merged))
    adapter = write_adapter(fit_lora(base.state_dict(), tuned.state_dict(), rank=2), tmp_path / "adapter",
                            base_name=str(tiny_model), dtype="float32")
    assert resolve_checkpoint(adapter) == (str(adapter), adapter)

    task = load_task(numeric_task)
    kw = dict(batch_size=4, max_new_tokens=6, dtype="float32")
    from_adapter = evaluate(str(adapter), task, out=tmp_path / "ea", **kw)
    from_merged = evaluate(str(merged), task, out=tmp_path / "em", **kw)
    from_base = evaluate(str(tiny_model), task, out=tmp_path / "eb", **kw)
    assert from_adapter.nll == pytest.approx(from_merged.nll, rel=1e-5)
    assert from_adapter.nll != pytest.approx(from_base.nll, rel=1e-5)  # the adapter was applied

    cfg = json.loads((adapter / "adapter_config.json").read_text())
    cfg.pop("base_model_name_or_path")
    (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AdaptError, match="base_model_name_or_path"):
        evaluate(str(adapter), task, out=tmp_path / "ex", **kw)


def test_importing_adapt_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, datachef.adapt; print('torch' in sys.modules, 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]
