"""The RL reward (the paper's R(r), §3.3): a policy's completion — a recipe as JSON text, in the policy's compact
form (chef.compact) or the chef's typed form — is parsed, compiled, executed and verified; its reward is the
verifier's score of the corpus it produced.

    reward = RecipeReward(RewardConfig(kind="composite"), judge="local")          # or scorers=RayScorers(...)
    results = reward([completion, ...], [rollout_task, ...])                        # one RewardResult each
    [r.reward for r in results]

Kinds (`RewardConfig.kind`):
- composite: the verifier's composite score (quality x yield x breadth x leak factor; see verifier.reward);
- paper:     the paper's pure instance score (mean rubric score of the judged sample);
- sparse:    1 for any recipe that runs and yields a corpus in the training format (the paper's ablation: a
             constant reward for a valid recipe trains worse than the dense one).

Penalties, the same numbers everywhere: a completion that is not a valid recipe (no JSON, wrong structure, unknown
source or field) gets −λ_format; a recipe that fails to run, produces no data, crashes or hangs its worker gets
−λ_empty (the paper: R = −λ_∅ when d = ∅); a corpus not in chat format gets the verifier's −λ_format. The λs are
the verifier's (`VerifierConfig.lambda_empty`, `.lambda_format`).

Scoring runs in this process one recipe after another, or at once on Ray actors (`verifier.scoring.RayScorers`)
sharing the step cache, where a worker that crashes or runs past the limit is that recipe's penalty, never the run's.
Identical compiled programs in one call are executed once (a group of 8 often repeats a recipe).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from ..chef.compact import compact_prompt, parse_compact
from ..chef.generate import parse_typed
from ..chef.search import program_key
from ..io import load_task, task_base_dir
from ..sources import load_benchmark, open_source, profile_source
from ..spec import SourceProfile, TaskSpec
from ..verifier import Verifier, VerifierConfig
from ..verifier.scoring import RecentVerifiers, ScoreJob, ScoringConfig, score_recipe

RewardKind = Literal["composite", "paper", "sparse"]
REWARD_KINDS: tuple[str, ...] = ("composite", "paper", "sparse")


@dataclass
class RewardConfig:
    kind: RewardKind = "composite"
    form: Literal["compact", "typed"] = "compact"  # the policy's answer: chef.compact's JSON or the chef's
    sample: int = 100  # instances the verifier judges per recipe
    seed: int = 0
    cache_dir: Path | None = None  # the step cache every scorer shares

    @property
    def verifier_reward(self) -> str:
        """The score the verifier computes: the paper's for `paper`, else the composite (`sparse` only asks whether
        a recipe was scored)."""
        return "paper" if self.kind == "paper" else "composite"

    def scoring_config(self) -> ScoringConfig:
        """The scorers' settings (Ray workers) that compute this reward's verifier score."""
        return ScoringConfig(sample=self.sample, seed=self.seed, reward=self.verifier_reward,
                             cache_dir=self.cache_dir)


@dataclass
class RolloutTask:
    """What a prompt was about: the task (and its file, for workers) and the source profiles its schema used."""

    task_file: Path
    task: TaskSpec
    profiles: list[SourceProfile]

    @classmethod
    def load(cls, task_file: str | Path) -> "RolloutTask":
        task = load_task(Path(task_file))
        base = task_base_dir(task)
        return cls(Path(task_file), task, [profile_source(open_source(s, base)) for s in task.sources])

    @cached_property
    def dev(self) -> list[dict[str, Any]]:
        """The benchmark's dev items (what the prompt may show)."""
        return load_benchmark(self.task, task_base_dir(self.task))[0]

    @cached_property
    def prompt(self) -> str:
        """The policy's compact prompt for this task."""
        return compact_prompt(self.task, self.profiles, self.dev)


@dataclass
class RewardResult:
    reward: float
    status: Literal["ok", "format_violation", "failed", "empty_or_malformed_corpus"]
    score: float | None = None  # the verifier's score (composite) when the recipe ran
    paper: float | None = None
    records: int = 0
    error: str | None = None
    program: str | None = None  # compiled-program hash (identical programs share one execution)
    parts: dict[str, Any] = field(default_factory=dict)


class RecipeReward:
    """Completions → rewards. `judge`: the verifier's judge in this process ("local" or an LLMClient); `scorers`:
    a `RayScorers` to score at once on Ray instead (its workers build their own judges)."""

    def __init__(self, config: RewardConfig | None = None, *, judge: Any = "local", scorers: Any = None,
                 work_dir: str | Path = "runs/rl-rewards", verifier_config: VerifierConfig | None = None):
        self.config = config or RewardConfig()
        if self.config.kind not in REWARD_KINDS:
            raise ValueError(f"reward kind must be one of {', '.join(REWARD_KINDS)}, not {self.config.kind!r}")
        self.verifier_config = verifier_config or VerifierConfig(reward=self.config.verifier_reward)
        self.judge, self.scorers, self.work_dir = judge, scorers, Path(work_dir)
        self._verifiers = RecentVerifiers()
        self._calls = 0

    @property
    def format_penalty(self) -> float:
        return -self.verifier_config.lambda_format

    @property
    def failure_penalty(self) -> float:
        return -self.verifier_config.lambda_empty

    def _verifier(self, rt: RolloutTask) -> Verifier:
        return self._verifiers.get(str(rt.task_file),
                                   lambda: Verifier(rt.task, judge=self.judge, config=self.verifier_config))

    def __call__(self, completions: list[str], tasks: list[RolloutTask]) -> list[RewardResult]:
        if len(completions) != len(tasks):
            raise ValueError(f"{len(completions)} completions for {len(tasks)} tasks")
        call = self._calls
        self._calls += 1
        results: list[RewardResult | None] = [None] * len(completions)
        runs: dict[tuple[str, str], list[int]] = {}  # (task file, program) -> completions with that program
        recipes: dict[tuple[str, str], Any] = {}
        for i, (text, rt) in enumerate(zip(completions, tasks)):
            parse = parse_compact if self.config.form == "compact" else parse_typed
            try:
                _chef, recipe = parse(text, rt.task, rt.profiles, i, self.config.seed)
            except ValueError as e:
                results[i] = RewardResult(self.format_penalty, "format_violation", error=str(e))
                continue
            key = (str(rt.task_file), program_key(recipe))
            runs.setdefault(key, []).append(i)
            recipes[key] = recipe
        keys = list(runs)
        folders = [self.work_dir / f"call{call:05d}" / f"r{runs[k][0]:03d}" for k in keys]
        scored = self._score([(tasks[runs[k][0]], recipes[k], f) for k, f in zip(keys, folders)])
        for k, folder, outcome in zip(keys, folders, scored):
            result = self._result(outcome, folder)
            result.program = k[1]
            for i in runs[k]:
                results[i] = result
        return [r for r in results if r is not None]

    def _score(self, jobs: list[tuple[RolloutTask, Any, Path]]) -> list[dict[str, Any]]:
        c = self.config
        if self.scorers is not None:
            return self.scorers.score([ScoreJob(rt.task_file, recipe, folder) for rt, recipe, folder in jobs])
        return [score_recipe(recipe, rt.task, folder, self._verifier(rt), sample=c.sample, seed=c.seed,
                             cache_dir=c.cache_dir) for rt, recipe, folder in jobs]

    def _result(self, outcome: dict[str, Any], folder: Path) -> RewardResult:
        if outcome["status"] != "ok":  # did not run, no data, a crashed or hung worker
            return RewardResult(self.failure_penalty, "failed", error=outcome["error"])
        verify = json.loads((folder / "run" / "verify.json").read_text(encoding="utf-8"))
        parts = {k: v for k, v in verify.get("reward", {}).items() if k != "breadth_detail"}
        score, paper = float(verify["score"]), parts.get("paper")
        base = dict(score=score, paper=paper, records=outcome["records"], parts=parts)
        if verify["status"] != "scored":  # the verifier's own penalties: no records, or not chat data
            return RewardResult(score, "empty_or_malformed_corpus", **base)
        kind = self.config.kind
        value = 1.0 if kind == "sparse" else (float(paper) if kind == "paper" and paper is not None else score)
        return RewardResult(value, "ok", **base)
