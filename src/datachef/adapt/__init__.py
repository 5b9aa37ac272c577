"""Downstream adaptation: SFT a base model on a corpus (`train_sft`), score it on the task's held-out benchmark
(`evaluate`), and the proxy–downstream correlation study (`run_correlation`). torch, transformers, trl and peft are
imported only when training or evaluation runs."""
from __future__ import annotations

from .train import PROFILES, AdaptError, TrainConfig, TrainResult, load_chat_records, tokenize_chat, train_sft
# Imported after the submodule of the same name, so `datachef.adapt.evaluate` is the function.
from .evaluate import EvalResult, evaluate  # noqa: E402
from .correlate import CorrelateConfig, StudyResult, correlate_scores, run_correlation  # noqa: E402

__all__ = ["AdaptError", "CorrelateConfig", "EvalResult", "PROFILES", "StudyResult", "TrainConfig", "TrainResult",
           "correlate_scores", "evaluate", "load_chat_records", "run_correlation", "tokenize_chat", "train_sft"]
