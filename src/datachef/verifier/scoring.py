"""Scoring recipes (execute, then verify): one at a time in this process (`score_recipe`), or many at once on Ray
actors (`RayScorers`), for cook's drafts, chef-eval's recipes and RL rollouts.

Each Ray actor builds its judge once (a model loads once per worker, never crosses a process boundary) and keeps
one `Verifier` per task (the few most recently used). A recipe whose worker crashes or runs past the time limit is
that recipe's failure (its worker is replaced), never the run's; a judge that is down stops the run, as it does
in-process.
Actors write each run into the job's folder: on a cluster of several machines that folder must be on storage
every node sees.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..engine import run_recipe
from ..errors import DatachefError
from ..memory import release_memory
from ..spec import Recipe, TaskSpec
from .config import VerifierConfig


def score_recipe(recipe: Recipe, task: TaskSpec, folder: Path, verifier: Any, *, sample: int, seed: int,
                 cache_dir: Path | None = None, llm: Any = None) -> dict[str, Any]:
    """Run `recipe` into FOLDER/run and verify it (FOLDER/run/verify.json). Returns status ("ok" | "failed"),
    error, score (the verifier's reward), records, paper (the paper-style reward, for comparison) and seconds.
    A recipe that fails to run is a result; a judge that fails raises (that is the run's problem)."""
    t0 = time.time()
    folder = Path(folder)
    try:
        m = run_recipe(recipe, task, folder / "run", cache_dir=cache_dir, progress=False, llm=llm)
    except DatachefError as e:
        return failed(str(e), time.time() - t0)
    verifier.verify(folder / "run", sample=sample, seed=seed)
    verify = json.loads((folder / "run" / "verify.json").read_text(encoding="utf-8"))
    return {"status": "ok", "error": None, "score": float(verify["score"]), "records": m.output.records,
            "paper": verify.get("reward", {}).get("paper"), "seconds": round(time.time() - t0, 1)}


def failed(error: str, seconds: float = 0.0) -> dict[str, Any]:
    return {"status": "failed", "error": error, "score": 0.0, "records": 0, "paper": None,
            "seconds": round(seconds, 1)}


@dataclass
class ScoreJob:
    task_file: Path  # the task YAML: workers load the task (and its sources) themselves
    recipe: Recipe
    folder: Path  # the run goes to FOLDER/run


@dataclass
class ScoringConfig:
    sample: int = 100
    seed: int = 0
    reward: str = "composite"
    cache_dir: Path | None = None
    timeout_s: float | None = 1800.0  # per recipe; None = no limit
    judge_mode: str = "auto"  # Verifier's judge_mode


# Verifiers kept per process (most recently used): each holds its task's benchmark indexes, and an RL or
# demonstration run visits hundreds of task instances; unbounded, one Ray worker grew to 15 GB over ~60 instances.
VERIFIERS_KEPT = 4


class RecentVerifiers:
    """A process's verifiers by task key, the `kept` most recently used (a dropped one's memory is handed back).

        verifier = recent.get(str(task_file), lambda: Verifier(task, ...))"""

    def __init__(self, kept: int = VERIFIERS_KEPT):
        self.kept = kept
        self._by_key: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str, build: Callable[[], Any]) -> Any:
        verifier = self._by_key.pop(key, None)
        if verifier is None:
            verifier = build()
        self._by_key[key] = verifier  # now the most recent
        while len(self._by_key) > self.kept:
            self._by_key.popitem(last=False)
            release_memory()
        return verifier

    def keys(self) -> list[str]:
        """Least recently used first."""
        return list(self._by_key)


class _Scorer:
    """One worker: its judge and a Verifier per task (the `VERIFIERS_KEPT` most recently used)."""

    def __init__(self, judge_factory: Callable[[], Any], config: ScoringConfig):
        self.judge = judge_factory()
        self.config = config
        self.verifiers = RecentVerifiers()

    def score(self, task_file: str, recipe: dict[str, Any], folder: str) -> dict[str, Any]:
        from ..io import load_task
        from .run import Verifier

        c = self.config
        try:
            task = load_task(Path(task_file))
            parsed = Recipe.model_validate(recipe)
        except DatachefError as e:
            return failed(str(e))
        verifier = self.verifiers.get(task_file, lambda: Verifier(task, judge=self.judge, judge_mode=c.judge_mode,
                                                                   config=VerifierConfig(reward=c.reward)))
        return score_recipe(parsed, task, Path(folder), verifier, sample=c.sample, seed=c.seed,
                            cache_dir=c.cache_dir)


class RayScorers:
    """Score many recipes at once on Ray actors (one CPU each). Use inside `engine.ray_session(...)`.

        with ray_session(address):
            with RayScorers(judge_spec.build, ScoringConfig(sample=100)) as scorers:
                results = scorers.score([ScoreJob(task_file, recipe, folder), ...])   # in job order

    `judge_factory` is called in each worker (e.g. a `ClientSpec`'s `build`): it must pickle."""

    def __init__(self, judge_factory: Callable[[], Any], config: ScoringConfig | None = None, *,
                 workers: int | None = None, log: Callable[[str], None] | None = None):
        from ..engine.ray_session import cluster_cpus, import_ray

        self.ray = import_ray()
        if not self.ray.is_initialized():
            raise DatachefError("Ray is not initialised: use RayScorers inside engine.ray_session(...)")
        self.judge_factory, self.config = judge_factory, config or ScoringConfig()
        self.workers = workers or cluster_cpus(self.ray)
        self.log = log or (lambda m: None)
        self._actor_cls = self.ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_Scorer)
        self._actors: list[Any] = []

    def __enter__(self) -> "RayScorers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors.clear()

    def _new_actor(self) -> Any:
        actor = self._actor_cls.remote(self.judge_factory, self.config)
        self._actors.append(actor)
        return actor

    def _retire(self, actor: Any) -> None:
        self.ray.kill(actor)
        self._actors.remove(actor)

    def score(self, jobs: list[ScoreJob],
              on_result: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """The result of each job, in job order (as `score_recipe` returns them); `on_result(k, result)` is called
        as each job's result arrives (to save it at once: a killed run keeps what finished)."""
        ray = self.ray
        results: list[dict[str, Any] | None] = [None] * len(jobs)
        pending = list(range(len(jobs)))[::-1]
        idle = list(self._actors)
        while len(self._actors) < min(self.workers, len(jobs)):
            idle.append(self._new_actor())
        running: dict[Any, tuple[int, Any, float]] = {}  # ref -> (job index, actor, start time)

        def lost(k: int, actor: Any, error: str, started: float) -> None:
            """Job k failed with its worker (crashed, killed or stopped): record it and replace the worker."""
            results[k] = failed(error, time.time() - started)
            self.log(f"recipe {k}: {error}")
            if on_result:
                on_result(k, results[k])
            self._retire(actor)
            idle.append(self._new_actor())

        timeout = self.config.timeout_s
        while pending or running:
            while pending and idle:
                k = pending.pop()
                actor = idle.pop()
                job = jobs[k]
                ref = actor.score.remote(str(job.task_file), job.recipe.model_dump(mode="json", exclude_none=True),
                                         str(job.folder))
                running[ref] = (k, actor, time.time())
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                k, actor, _t = running.pop(ref)
                try:
                    results[k] = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    # What scoring raised beyond a recipe's own failure (the judge is down, a verifier error)
                    # stops the run, as it does in-process.
                    raise _cause(e) from None
                except ray.exceptions.RayError as e:
                    # The worker is gone: it crashed, or Ray killed it (out of memory, its node died). That is this
                    # recipe's failure (an RL step gives it the penalty), never the run's; a new worker takes over.
                    lost(k, actor, f"worker crashed: {type(e).__name__}: {str(e).splitlines()[0]}", _t)
                else:
                    idle.append(actor)
                    if on_result:
                        on_result(k, results[k])
            if timeout is not None:
                now = time.time()
                for ref, (k, actor, t0) in list(running.items()):
                    if now - t0 > timeout:
                        running.pop(ref)
                        lost(k, actor, f"timed out after {timeout:g} s (worker stopped)", t0)
        return [r for r in results if r is not None]


def _cause(e: BaseException) -> BaseException:
    """What a Ray task raised, out of Ray's wrapper."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, BaseException) else e


@contextmanager
def scorers_for(executor: str, address: str | None, judge_factory: Callable[[], Any], config: ScoringConfig,
                log: Callable[[str], None] | None = None) -> Iterator[RayScorers | None]:
    """`RayScorers` inside a Ray session (joined at `address`, or a local one for the block) when `executor` is
    "ray"; None (score in this process) when it is "local"."""
    if executor != "ray":
        yield None
        return
    from ..engine.ray_session import ray_session

    with ray_session(address, log=log):
        with RayScorers(judge_factory, config, log=log) as scorers:
            yield scorers

