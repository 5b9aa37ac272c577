"""The proxy reward R(r) of a recipe's corpus and the DVS_avg@N metric.

Two rewards, both reported in verify.json (`VerifierConfig.reward` picks the one that is `score`):

- **paper**: the DataChef paper's R — the mean rubric score of the graded sample (Invalid / Format error / Incorrect
  0, Task mismatch 0.4, Pass 1), −λ_empty for no data, −λ_format for a corpus not in the training format.
- **composite** (default): what a policy cannot game by emitting a small, narrow, padded or leaky corpus:

      R = quality × yield × breadth × leak_factor

  - quality: the mean rubric score over the *whole corpus*, estimated by stratification: records the whole-corpus
    checks flag (exact or near copies of an earlier record, held-out benchmark leaks) are Invalid, 0, as the rubric
    says; the others score as the sampled unflagged instances do. A padded corpus loses exactly its padding's share.
  - yield = log(1 + n) / log(1 + B), n the unflagged records capped at the budget B (`budget.train_samples`): fine-
    tuning gains grow roughly log-linearly with data size, so half the budget is worth more than half of it, and
    records beyond the budget are worth nothing (`yield_shape="linear"`: n / B).
  - breadth: the share of the benchmark's dev questions that a sampled record graded Pass covers (lies within the
    question's k-nearest-neighbour ball; the coverage of Naeem et al. 2020, relevance.py): variety counts only where
    the data is good and on the task.
  - leak_factor = max(0, 1 − leak_penalty × leak fraction): a leak invalidates the benchmark it leaks into, so it
    costs far more than its share of records (default 10: 5% leaked halves the reward, 10% zeroes it).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from .config import VerifierConfig


def reward(instance_scores: Sequence[float], *, empty: bool = False, format_violation: bool = False,
           config: VerifierConfig | None = None) -> float:
    """The paper's R: −λ_empty when the recipe produced no data, −λ_format when its output is not in the training
    format, else the mean instance score of the graded sample."""
    c = config or VerifierConfig()
    if empty:
        return -c.lambda_empty
    if format_violation:
        return -c.lambda_format
    if not instance_scores:
        raise ValueError("reward of a non-empty, well-formed corpus needs at least one graded instance")
    return sum(instance_scores) / len(instance_scores)


@dataclass
class RewardParts:
    paper: float  # mean rubric score of the sample
    quality: float  # whole-corpus estimate of the mean rubric score (flagged records 0)
    yield_factor: float
    breadth: float  # 1.0 when not measured
    leak_factor: float
    composite: float
    useful_records: int  # unflagged records (duplicates and leaks removed), uncapped

    def as_dict(self) -> dict[str, float]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def yield_factor(records: int, budget: int, shape: str = "log") -> float:
    n = max(0, min(records, budget))
    if shape == "linear":
        return n / budget
    return math.log1p(n) / math.log1p(budget)


def composite_reward(sampled: Sequence[tuple[float, bool]], *, records: int, flagged_fraction: float,
                     leak_fraction: float, budget: int, breadth: float | None,
                     config: VerifierConfig | None = None) -> RewardParts:
    """The composite reward of a scored corpus (see the module docstring). `sampled`: (instance score, flagged by
    the whole-corpus checks) for every graded instance; `records`: well-formed records in the corpus."""
    c = config or VerifierConfig()
    if not sampled:
        raise ValueError("the composite reward of a non-empty corpus needs at least one graded instance")
    paper = sum(s for s, _ in sampled) / len(sampled)
    clean = [s for s, flagged in sampled if not flagged]
    quality = (1.0 - flagged_fraction) * (sum(clean) / len(clean)) if clean else 0.0
    useful = round(records * (1.0 - flagged_fraction))
    y = yield_factor(useful, budget, c.yield_shape)
    b = 1.0 if breadth is None or not c.use_breadth else breadth
    leak = max(0.0, 1.0 - c.leak_penalty * leak_fraction)
    return RewardParts(paper=paper, quality=quality, yield_factor=y, breadth=b, leak_factor=leak,
                       composite=quality * y * b * leak, useful_records=useful)


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
