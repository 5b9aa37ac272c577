"""Downstream adaptation: SFT a base model on a corpus (`train_sft`) and score it on the task's held-out benchmark
(`evaluate`). torch, transformers, trl and peft are imported only when training or evaluation runs."""
from __future__ import annotations

from .train import PROFILES, AdaptError, TrainConfig, TrainResult, load_chat_records, tokenize_chat, train_sft
# Imported after the submodule of the same name, so `datachef.adapt.evaluate` is the function.
from .evaluate import EvalResult, evaluate  # noqa: E402

__all__ = ["AdaptError", "EvalResult", "PROFILES", "TrainConfig", "TrainResult", "evaluate", "load_chat_records",
           "tokenize_chat", "train_sft"]
