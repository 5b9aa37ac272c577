"""The proxy reward R(r) of a recipe's corpus and the DVS_avg@N metric."""
from __future__ import annotations

from typing import Iterable, Sequence

from .config import VerifierConfig


def reward(instance_scores: Sequence[float], *, empty: bool = False, format_violation: bool = False,
           config: VerifierConfig | None = None) -> float:
    """R = −λ_empty when the recipe produced no data, −λ_format when its output is not in the training format,
    else the mean instance score of the graded sample."""
    c = config or VerifierConfig()
    if empty:
        return -c.lambda_empty
    if format_violation:
        return -c.lambda_format
    if not instance_scores:
        raise ValueError("reward of a non-empty, well-formed corpus needs at least one graded instance")
    return sum(instance_scores) / len(instance_scores)


def dvs_avg(scores: Iterable[float | None], n: int | None = None) -> float:
    """DVS_avg@N: the mean Data Verifier Score over N recipe runs, where a failed run (None, a missing run, or a
    penalised reward below 0: no data or wrong format) counts as 0. `n` defaults to the number of scores given;
    with fewer scores than `n` the missing runs are failures."""
    values = [0.0 if s is None else max(0.0, float(s)) for s in scores]
    n = len(values) if n is None else n
    if n <= 0:
        raise ValueError("DVS_avg@N needs N >= 1")
    if len(values) > n:
        raise ValueError(f"{len(values)} scores given for DVS_avg@{n}")
    return sum(values) / n
