"""`chef-eval`: the paper's Table 1 protocol for any chef. For each task, N independent recipes are drafted,
executed and verified on the task's reward sample; per task: executability, DVS_avg@N (mean score, a failed or
invalid recipe counts 0), best-of-N and mean records, with the task's expert recipe as a reference row; averages
over the in-domain and out-of-domain held-out tasks and overall.

Resumable per (task, recipe): each recipe is a stage of the task folder's ledger (`stages.StageLedger`), done once
per fingerprint of everything that decides it (chef, form, sampling, task files, reward, sample), its result saved
in status.json before the ledger records it; a re-run reuses what is done. Drafting all N again on resume is cheap:
LLM requests are cached on disk.

OUT/<task>/stages.json  the ledger; OUT/<task>/r<i>/ recipe.yaml, status.json, run/ (the corpus, verify.json)
OUT/<task>/expert/ the expert recipe's run (reference)
OUT/chef_eval.json, chef_eval.md, chef_eval.html
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..llm.roles import ClientSpec
from ..io import dump_model_yaml, load_recipe, load_task, task_base_dir, write_json_atomic
from ..sources import load_benchmark, open_source, profile_source
from ..spec import Recipe
from ..stages import StageLedger, fingerprint
from ..verifier.scoring import ScoreJob, score_recipe
from . import prompts
from .generate import ChefConfig
from .search import program_key

GROUPS = (("heldout-id", "in-domain"), ("heldout-ood", "out-of-domain"))


@dataclass
class ChefEvalConfig:
    n: int = 8
    sample: int = 100
    seed: int = 0
    reward: str = "composite"
    cache_dir: Path | None = None
    expert: bool = True  # score each task's expert_recipe.yaml as a reference row
    jobs: int = 1  # tasks evaluated at once, each in a worker process with its own chef and judge (needs a factory)


@dataclass(frozen=True)
class ChefFactory:
    """Builds a (chef, judge) pair from specs: picklable, so each worker process of a parallel run builds its own
    (a model loads once per worker, never crosses a process boundary)."""

    chef: ClientSpec | None  # None: the random valid-recipe chef
    judge: ClientSpec
    chef_config: ChefConfig

    def __call__(self) -> tuple[Any, Any]:
        if self.chef is None:
            from .baseline import RandomChef

            return RandomChef(seed=self.chef_config.seed), self.judge.build()
        from .generate import Chef

        planner = self.chef.build()
        return Chef(planner, self.chef_config), self.judge.build(share=planner)


def _task_in_worker(factory: Callable[[], tuple[Any, Any]], et: "EvalTask", out: Path,
                    config: ChefEvalConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    chef, judge = factory()

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    return ChefEval([et], out, chef, judge, config, log=log)._one_task(et), chef_description(chef)


@dataclass(frozen=True)
class EvalTask:
    path: Path  # task.yaml
    split: str  # train | heldout-id | heldout-ood | other


def _task_hash(task_yaml: Path) -> str:
    """The task's files: task.yaml, the benchmark and every source file under its folder (names and bytes)."""
    folder = task_yaml.parent
    h = hashlib.sha256(task_yaml.read_bytes())
    for p in sorted([folder / "benchmark.jsonl", *folder.glob("sources/*")]):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def chef_description(chef: Any) -> dict[str, Any]:
    llm = getattr(chef, "llm", None)
    c = chef.config
    return {"chef": "random" if llm is None else f"{llm.backend}:{llm.model}", "form": c.form,
            "decoupled": getattr(c, "decoupled", False), "temperature": getattr(c, "temperature", None),
            "max_tokens": getattr(c, "answer_tokens", None), "max_repairs": getattr(c, "max_repairs", None),
            "constrained": getattr(c, "constrained", True), "seed": c.seed}


class ChefEval:
    """`chef` and `judge` evaluate the tasks one after another; with `config.jobs` > 1 and a `factory` (e.g.
    `ChefFactory`), `jobs` worker processes each build their own from it and take tasks in turn (chef and judge may
    then be None)."""

    def __init__(self, tasks: list[EvalTask], out: Path, chef: Any, judge: Any, config: ChefEvalConfig,
                 log: Callable[[str], None] | None = None, factory: Callable[[], tuple[Any, Any]] | None = None,
                 scorers: Any = None):
        self.tasks, self.out, self.chef, self.judge, self.config = tasks, Path(out), chef, judge, config
        self.log = log or (lambda m: None)
        self.factory = factory
        self.scorers = scorers  # verifier.scoring.RayScorers: each task's recipes are scored at once on Ray

    def _fingerprint(self, task_hash: str, what: str) -> str:
        from ..verifier.config import VERIFIER_VERSION

        c = self.config
        return fingerprint({"chef": chef_description(self.chef) if what != "expert" else None, "task": task_hash,
                            "what": what, "sample": c.sample, "reward": c.reward, "seed": c.seed,
                            "verifier": VERIFIER_VERSION})

    @staticmethod
    def _done(ledger: StageLedger, stage: str, fp: str, folder: Path) -> dict[str, Any] | None:
        """The saved result of a stage done with fingerprint `fp` (None when it must run)."""
        if not ledger.done(stage, fp, [folder / "status.json"]):
            return None
        try:
            return json.loads((folder / "status.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @staticmethod
    def _save(ledger: StageLedger, stage: str, fp: str, folder: Path, result: dict[str, Any]) -> None:
        write_json_atomic(folder / "status.json", result)  # the output first, then the ledger
        ledger.mark(stage, fp, status=result["status"], score=result["score"])

    def _score(self, task, task_file: Path, items: list[tuple[Recipe, Path]], verifier: Callable[[], Any],
               on_result: Callable[[int, dict[str, Any]], None]) -> None:
        """Execute and verify each (recipe, folder), calling `on_result(k, result)` as each finishes: on the Ray
        scorers when given, else one after another here (`verifier()` gives the task's verifier, built on first
        use)."""
        if not items:
            return
        if self.scorers is not None:
            self.scorers.score([ScoreJob(task_file, recipe, folder) for recipe, folder in items], on_result)
            return
        c = self.config
        for k, (recipe, folder) in enumerate(items):
            on_result(k, score_recipe(recipe, task, folder, verifier(), sample=c.sample, seed=c.seed,
                                      cache_dir=c.cache_dir))

    def _one_task(self, et: EvalTask) -> dict[str, Any]:
        from ..verifier import Verifier, VerifierConfig

        task = load_task(et.path)
        folder = self.out / task.name
        task_hash = _task_hash(et.path)
        n = self.config.n
        ledger = StageLedger(folder)
        prints = [self._fingerprint(task_hash, f"recipe-{i}") for i in range(n)]
        results: list[dict[str, Any] | None] = [self._done(ledger, f"recipe-{i}", p, folder / f"r{i}")
                                                for i, p in enumerate(prints)]
        verifiers: list[Any] = []

        def get_verifier() -> Any:  # built once, when a recipe is first scored in this process
            if not verifiers:
                verifiers.append(Verifier(task, judge=self.judge, config=VerifierConfig(reward=self.config.reward)))
            return verifiers[0]

        if any(r is None for r in results):
            base = task_base_dir(task)
            profiles = [profile_source(open_source(s, base)) for s in task.sources]
            dev, _ = load_benchmark(task, base)
            self.log(f"[{task.name}] drafting {n} recipes ({sum(r is None for r in results)} to run)")
            drafts = self.chef.draft(task, profiles, prompts.chef_profiles(profiles), dev, n)
            # The draft that runs each program (the same program is run once, as in cook), by draft.
            first: dict[str, int] = {}
            runner: dict[int, int] = {}
            todo: list[int] = []
            for i, d in enumerate(drafts):
                if results[i] is not None:
                    continue
                (folder / f"r{i}").mkdir(parents=True, exist_ok=True)
                if d.recipe is not None:
                    (folder / f"r{i}" / "recipe.yaml").write_text(dump_model_yaml(d.recipe), encoding="utf-8")
                    runner[i] = first.setdefault(program_key(d.recipe), i)
                todo.append(i)

            def finish(i: int, result: dict[str, Any]) -> None:  # saved at once: a killed run keeps it
                result["index"] = i
                self._save(ledger, f"recipe-{i}", prints[i], folder / f"r{i}", result)
                results[i] = result
                self.log(f"[{task.name}] recipe {i}: {result['status']}, score {result['score']:.3f}, "
                         f"{result['records']} records")

            for i in todo:
                if drafts[i].recipe is None:
                    finish(i, {"status": "invalid", "error": drafts[i].error, "score": 0.0, "records": 0})
            runs = [i for i in todo if runner.get(i) == i]

            def scored(k: int, result: dict[str, Any]) -> None:  # the run's result, for every draft sharing it
                for i in todo:
                    if runner.get(i) == runs[k]:
                        finish(i, dict(result))

            self._score(task, et.path, [(drafts[i].recipe, folder / f"r{i}") for i in runs], get_verifier, scored)
        expert = None
        expert_file = et.path.parent / "expert_recipe.yaml"
        if self.config.expert and expert_file.is_file():
            edir = folder / "expert"
            fp = self._fingerprint(task_hash, "expert")
            expert = self._done(ledger, "expert", fp, edir)
            if expert is None:
                edir.mkdir(parents=True, exist_ok=True)
                got: list[dict[str, Any]] = []
                self._score(task, et.path, [(load_recipe(expert_file), edir)], get_verifier,
                            lambda _k, result: got.append(result))
                expert = got[0]
                self._save(ledger, "expert", fp, edir, expert)
        done = [r for r in results if r is not None]
        scores = [max(0.0, float(r["score"])) if r["status"] == "ok" else 0.0 for r in done]
        ok = sum(r["status"] == "ok" for r in done)
        return {"task": task.name, "split": et.split, "n": len(done), "executable": ok,
                "executability": ok / max(1, len(done)), "dvs_avg": sum(scores) / max(1, len(scores)),
                "best_of_n": max(scores, default=0.0),
                "mean_records": sum(r["records"] for r in done) / max(1, len(done)),
                "expert": None if expert is None else (expert["score"] if expert["status"] == "ok" else 0.0),
                "recipes": [{k: r.get(k) for k in ("index", "status", "score", "records", "error")} for r in done]}

    def run(self) -> dict[str, Any]:
        t0 = time.time()
        self.out.mkdir(parents=True, exist_ok=True)
        if self.config.jobs > 1 and self.factory is not None and len(self.tasks) > 1:
            rows, described = self._parallel()
        else:
            rows, described = [self._one_task(et) for et in self.tasks], chef_description(self.chef)
        summary = {"chef": described, "n": self.config.n, "sample": self.config.sample,
                   "reward": self.config.reward, "tasks": rows, "averages": averages(rows),
                   "seconds": round(time.time() - t0, 1)}
        write_json_atomic(self.out / "chef_eval.json", summary)
        (self.out / "chef_eval.md").write_text(render_markdown(summary), encoding="utf-8")
        from ..report.html import chef_eval_report

        (self.out / "chef_eval.html").write_text(chef_eval_report(summary), encoding="utf-8")
        return summary


    def _parallel(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Tasks over worker processes (spawned: no fork of a process holding a model or threads). A task whose
        worker dies is that task's failure, reported, never the run's: its finished recipes are kept on disk and a
        re-run resumes it."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        jobs = min(self.config.jobs, len(self.tasks))
        self.log(f"evaluating {len(self.tasks)} tasks in {jobs} worker processes")
        rows: list[dict[str, Any] | None] = [None] * len(self.tasks)
        described: dict[str, Any] | None = None
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_task_in_worker, self.factory, et, self.out, self.config) for et in self.tasks]
            for i, (et, future) in enumerate(zip(self.tasks, futures)):
                try:
                    rows[i], described = future.result()
                except Exception as e:  # noqa: BLE001 - a worker's crash is its task's failure
                    self.log(f"[{et.path.parent.name}] worker failed: {type(e).__name__}: {e}")
                    rows[i] = {"task": et.path.parent.name, "split": et.split, "n": 0, "executable": 0,
                               "executability": 0.0, "dvs_avg": 0.0, "best_of_n": 0.0, "mean_records": 0.0,
                               "expert": None, "recipes": [], "error": f"{type(e).__name__}: {e}"}
        return [r for r in rows if r is not None], described or {}


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def averages(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """In-domain, out-of-domain (held-out splits) and overall means of the per-task figures."""
    groups = {label: [r for r in rows if r["split"] == split] for split, label in GROUPS}
    groups["overall"] = rows
    return {label: {"tasks": len(g), **{k: _mean(g, k) for k in ("executability", "dvs_avg", "best_of_n",
                                                                     "expert")}}
            for label, g in groups.items() if g}


def _f(x: Any) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def render_markdown(summary: dict[str, Any]) -> str:
    n = summary["n"]
    chef = summary["chef"]
    lines = [f"chef `{chef['chef']}`, form {chef['form']}, N = {n}, reward {summary['reward']}, "
             f"{summary['sample']} instances judged per recipe (figures x100)", "",
             f"| task | split | executability | DVS_avg@{n} | best-of-{n} | mean records | expert |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in summary["tasks"]:
        lines.append(f"| {r['task']} | {r['split']} | {_f(r['executability'])} | {_f(r['dvs_avg'])} | "
                     f"{_f(r['best_of_n'])} | {r['mean_records']:.0f} | {_f(r['expert'])} |")
    for label, a in summary["averages"].items():
        tasks = f"{a['tasks']} task" + ("s" if a["tasks"] != 1 else "")
        lines.append(f"| **{label} average** ({tasks}) | | {_f(a['executability'])} | **{_f(a['dvs_avg'])}** | "
                     f"{_f(a['best_of_n'])} | | {_f(a['expert'])} |")
    return "\n".join(lines) + "\n"
