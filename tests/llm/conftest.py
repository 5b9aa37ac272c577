"""Shared fixtures for the LLM-layer tests: a tiny random Llama with the real SmolLM2 tokenizer and chat template."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny randomly initialised LlamaForCausalLM (2 layers, hidden 64, seeded) saved as a model folder; built once
    per test session (a few seconds: most of it is reading the SmolLM2 tokenizer)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from datachef.llm.models import tiny_random_model

    return tiny_random_model(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture(scope="session")
def tiny_client(tiny_model_dir):
    """A TransformersClient on the tiny model, fp32 (exact comparisons), no request cache. Shared: do not mutate.

    One torch thread: the tiny model's matrices are so small that OpenMP synchronisation dominates, badly so when the
    2 cores are busy with other work (measured 5-10x slower with 2 threads under load)."""
    from datachef.llm.local import TransformersClient

    return TransformersClient(str(tiny_model_dir), dtype="float32", batch_size=4, num_threads=1)
