"""`cook`: profile the sources, have the chef write N recipes, execute and verify each, search, and write the best
corpus with a report.

DIR/best/          recipe.yaml, data.jsonl, manifest.json, verify.json of the best recipe
DIR/candidates/ID/ each candidate: recipe.yaml, status.json (status, error or score) and its run outputs; a draft
                   whose program an earlier candidate already ran shares that one's result (status.json: duplicate_of)
DIR/cook.json      summary: executability, DVS_avg@N, best score before/after search, token usage, timings
DIR/report.html    scores per candidate, grade histogram and source mix of the best recipe, rows per step
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from tqdm import tqdm

from ..errors import DatachefError
from ..io import dump_model_yaml, task_base_dir, write_json_atomic
from ..llm.base import LLMClient
from ..sources import load_benchmark, open_source, profile_source
from ..spec import Recipe, TaskSpec
from ..verifier.scoring import ScoreJob, score_recipe
from . import prompts
from .generate import Chef, Draft, parse_typed
from .search import Candidate, feedback_from_verify, program_key, refine
from .typed import ChefRecipe, chef_schema, compile_chef_recipe


@dataclass
class CookConfig:
    n: int = 8
    search_budget: int = 4
    sample: int = 100  # instances the verifier judges per recipe
    seed: int = 0
    cache_dir: Path | None = None
    reward: str = "composite"  # the verifier's score: composite (default) or paper (VerifierConfig.reward)
    # Rounds of drawing again the drafts whose program an earlier draft already has (hotter, new seeds), so N drafts
    # are N different recipes where the chef can write them; 0 keeps repeats (they share the earlier result).
    # 4: the shipped chef's repeats on gsm8k went 5 -> 3 -> 2 -> 1 -> 1 over rounds (7 of 8 distinct; the 4th round
    # is at the 1.5 cap), each round a few seconds of drafting.
    redraws: int = 4
    redraw_heat: float = 0.3  # temperature added per round (at most 1.5)


class Cook:
    """`progress`: the stream to draw progress bars on (drafting, execution, search), or None for none."""

    def __init__(self, task: TaskSpec, out: Path, chef: Chef, judge: Any, config: CookConfig,
                 log: Callable[[str], None] | None = None, progress: TextIO | None = None,
                 scorers: Any = None, task_file: Path | None = None):
        self.task, self.out, self.chef, self.judge, self.config = task, Path(out), chef, judge, config
        # verifier.scoring.RayScorers: the drafts are executed and verified at once on Ray (workers load the task
        # from `task_file`).
        if scorers is not None and task_file is None:
            raise ValueError("scoring on Ray needs the task's file (task_file)")
        self.scorers, self.task_file = scorers, task_file
        self._log = log or (lambda m: None)
        self.progress = progress
        self.candidates: list[Candidate] = []
        self.redrawn = 0  # repeated drafts replaced by new recipes (_redraw_repeats)
        self.use_llm_ops = False  # recipes may call llm_map/llm_generate with the chef's model when enabled
        from ..verifier import Verifier, VerifierConfig

        # Built once: the judge model and embeddings load once.
        self.verifier = Verifier(task, judge=judge, config=VerifierConfig(reward=config.reward))

    def log(self, msg: str) -> None:
        if self.progress is None:
            self._log(msg)
        else:
            with tqdm.external_write_mode(file=self.progress):  # the line above the bars, not through them
                self._log(msg)

    def _bar(self, desc: str, total: int | None, unit: str) -> tqdm:
        # Drafting counts tokens of budget (an upper bound, rows stop early): percent and time tell more than counts.
        fmt = "{l_bar}{bar}| [{elapsed}<{remaining}]" if unit == "tok" else None
        return tqdm(total=total, desc=desc, unit=unit, file=self.progress, disable=self.progress is None,
                    bar_format=fmt, dynamic_ncols=True)

    # -- one candidate: execute + verify ------------------------------------------------------------------
    def _prepare(self, c: Candidate) -> bool:
        """The candidate's folder and recipe file; False (and its status saved) when there is nothing to run."""
        c.out_dir = self.out / "candidates" / c.id
        c.out_dir.mkdir(parents=True, exist_ok=True)
        if c.recipe is not None:
            (c.out_dir / "recipe.yaml").write_text(dump_model_yaml(c.recipe), encoding="utf-8")
        if c.status == "invalid":
            self._save_status(c)
            return False
        return True

    def _execute(self, c: Candidate) -> Candidate:
        if self._prepare(c):
            cfg = self.config
            self._absorb(c, score_recipe(c.recipe, self.task, c.out_dir, self.verifier, sample=cfg.sample,
                                         seed=cfg.seed, cache_dir=cfg.cache_dir,
                                         llm=self.chef.llm if self.use_llm_ops else None))
        return c

    def _execute_all(self, cands: list[Candidate]) -> None:
        """Execute and verify candidates: at once on the Ray scorers when there are some, else one by one."""
        if self.scorers is None or self.use_llm_ops:  # llm ops use this process's chef model
            for c in cands:
                self._execute(c)
            return
        runs = [c for c in cands if self._prepare(c)]
        results = self.scorers.score([ScoreJob(self.task_file, c.recipe, c.out_dir) for c in runs])
        for c, result in zip(runs, results):
            self._absorb(c, result)

    def _absorb(self, c: Candidate, result: dict[str, Any]) -> None:
        """Take a scoring result (and the verifier's report) into the candidate; save its status."""
        c.records, c.seconds = result["records"], result["seconds"]
        if result["status"] != "ok":
            c.status, c.error = "failed", result["error"]
            self._save_status(c)
            return
        verify = json.loads((c.out_dir / "run" / "verify.json").read_text())
        c.score = float(verify["score"])
        c.histogram, c.per_source, c.reasons = feedback_from_verify(verify)
        c.parts = {k: v for k, v in verify.get("reward", {}).items() if k != "breadth_detail"}
        c.status = "ok"
        self._save_status(c)
        self.log(f"candidate {c.id} ({c.origin}): {c.records} records, score {c.score:.3f}")

    def _save_status(self, c: Candidate) -> None:
        write_json_atomic(c.out_dir / "status.json", c.summary())

    def _from_draft(self, d: Draft) -> Candidate:
        c = Candidate(id=f"c{d.index:02d}", origin="sample", form=d.form, recipe=d.recipe,
                      chef_recipe=d.chef_recipe, repairs=d.repairs,
                      program=program_key(d.recipe) if d.recipe is not None else None)
        if not d.valid:
            c.status, c.error = "invalid", d.error
        return c

    def _share(self, c: Candidate, first: Candidate) -> None:
        """`c` computes what `first` computed: it takes first's result rather than running and judging it again
        (and still counts in DVS_avg@N with that score: the chef did write it)."""
        c.out_dir = self.out / "candidates" / c.id
        c.out_dir.mkdir(parents=True, exist_ok=True)
        (c.out_dir / "recipe.yaml").write_text(dump_model_yaml(c.recipe), encoding="utf-8")
        c.duplicate_of = first.id
        c.status, c.error, c.score, c.records = first.status, first.error, first.score, first.records
        c.histogram, c.per_source, c.reasons, c.parts = first.histogram, first.per_source, first.reasons, first.parts
        self._save_status(c)
        self.log(f"candidate {c.id} ({c.origin}): same program as {first.id}, not run again")

    def _from_chef_recipe(self, origin: str, chef_recipe: ChefRecipe) -> Candidate:
        i = len(self.candidates)
        recipe = self._compile(chef_recipe, i)
        c = Candidate(id=f"s{i:02d}", origin=origin, chef_recipe=chef_recipe, recipe=recipe,
                      program=program_key(recipe))
        self.candidates.append(c)
        return self._execute(c)

    def _compile(self, chef_recipe: ChefRecipe, i: int) -> Recipe:
        return compile_chef_recipe(chef_recipe, self.task, name=f"search-{i}", seed=self.config.seed)

    def _improve(self, best: Candidate, profiles, profiles_text: str) -> ChefRecipe | None:
        llm = self.chef.llm
        text = prompts.improve_prompt(self.task, profiles_text, best.chef_recipe.model_dump(mode="json"),
                                      best.reward, best.histogram, best.per_source, best.reasons)
        from ..llm.base import SamplingParams

        out = llm.chat([{"role": "system", "content": prompts.SYSTEM}, {"role": "user", "content": text}],
                       SamplingParams(max_tokens=self.chef.config.answer_tokens, temperature=0.7,
                                      seed=self.config.seed + len(self.candidates)),
                       json_schema=chef_schema(self.task, profiles))
        if out.finish_reason == "error":
            self.log(f"improve: the model refused the prompt of {out.prompt_tokens} tokens")
            return None
        try:
            chef_recipe, _ = parse_typed(out.text, self.task, profiles, len(self.candidates), self.config.seed)
        except ValueError as e:
            self.log(f"improve: unusable proposal ({e})")
            return None
        return chef_recipe

    def _redraw_repeats(self, drafts: list[Draft], profiles: list, profiles_text: str, dev: list[dict]) -> list[Draft]:
        """Draw again, hotter and with new seeds, the drafts whose program an earlier draft already has (a confident
        trained chef repeats itself at its usual temperature): up to `redraws` rounds, each new draft replacing a
        repeat only when it is valid and new. The repeats left share the earlier result as before."""
        cfg, chef_cfg = self.config, self.chef.config
        drafts = list(drafts)
        next_index = max((d.index for d in drafts), default=-1) + 1
        for round_ in range(1, cfg.redraws + 1):
            seen: set[str] = set()
            repeats = []
            for i, d in enumerate(drafts):
                if d.recipe is None:
                    continue
                key = program_key(d.recipe)
                if key in seen:
                    repeats.append(i)
                seen.add(key)
            if not repeats:
                break
            temperature = min(1.5, chef_cfg.temperature + cfg.redraw_heat * round_)
            with self._bar(f"redrawing {len(repeats)} repeated drafts", None, "tok") as bar:
                fresh = self.chef.draft(self.task, profiles, profiles_text, dev, len(repeats), start=next_index,
                                        progress=bar, temperature=temperature)
            next_index += len(repeats)
            replaced = 0
            for i, d in zip(repeats, fresh):
                key = program_key(d.recipe) if d.recipe is not None else None
                if key is not None and key not in seen:
                    seen.add(key)
                    drafts[i] = d
                    replaced += 1
            self.redrawn += replaced
            self.log(f"redraw round {round_} (temperature {temperature:.2f}): {replaced} of {len(repeats)} repeated "
                     f"drafts replaced by new recipes")
        return drafts

    # -- the whole job ------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        t0 = time.time()
        cfg, task = self.config, self.task
        self.out.mkdir(parents=True, exist_ok=True)
        base = task_base_dir(task)
        profiles = [profile_source(open_source(s, base)) for s in task.sources]
        profiles_text = prompts.chef_profiles(profiles)
        dev, _ = load_benchmark(task, base)
        self.log(f"profiled {len(profiles)} sources; asking the chef for {cfg.n} recipes")

        with self._bar("drafting", None, "tok") as bar:
            drafts = self.chef.draft(task, profiles, profiles_text, dev, cfg.n, progress=bar)
        drafts = self._redraw_repeats(drafts, profiles, profiles_text, dev)
        with self._bar("executing", len(drafts), "recipe") as bar:
            drafted = [self._from_draft(d) for d in drafts]
            self.candidates.extend(drafted)
            ran: dict[str, Candidate] = {}  # program -> the first draft with it, the only one that runs it
            runs = [c for c in drafted if c.program is None or ran.setdefault(c.program, c) is c]
            if self.scorers is not None:  # all at once, then the bar jumps
                self._execute_all(runs)
                bar.update(len(runs))
            for c, d in zip(drafted, drafts):
                shared = c.program is not None and ran[c.program] is not c
                if shared:
                    self._share(c, ran[c.program])  # type: ignore[index]
                elif self.scorers is None:
                    self._execute(c)
                if shared or self.scorers is None:
                    bar.update()
                # The chef's raw answers (every repair round), so an invalid draft can be read, not just its error.
                rounds = [f"--- round {k} ---\n{text}" for k, text in enumerate(d.history)]
                (c.out_dir / "response.txt").write_text("\n\n".join(rounds) + "\n", encoding="utf-8")
        sampled = list(self.candidates)
        executable = sum(c.status == "ok" for c in sampled)
        dvs = sum(c.reward for c in sampled) / max(1, len(sampled))
        best_of_n = max(sampled, key=lambda c: c.rank)
        self.log(f"best-of-{cfg.n}: {best_of_n.id} score {best_of_n.reward:.3f}; executability "
                 f"{executable}/{len(sampled)}; DVS_avg@{cfg.n} {dvs:.3f}; "
                 f"{sum(c.duplicate_of is None for c in sampled)} distinct")

        searched: list[Candidate] = []
        skipped: list[str] = []
        if cfg.search_budget > 0:
            with self._bar("search", cfg.search_budget, "run") as bar:
                def evaluate(origin: str, chef_recipe: ChefRecipe) -> Candidate:
                    c = self._from_chef_recipe(origin, chef_recipe)
                    bar.update()
                    return c

                improve = ((lambda b: self._improve(b, profiles, profiles_text)) if self.chef.config.form == "typed"
                           else None)
                searched, skipped = refine(sampled, evaluate, improve, budget=cfg.search_budget,
                                           train_budget=task.budget.train_samples, log=self.log,
                                           program=lambda r: program_key(self._compile(r, 0)))
        # A duplicate ranks with its original, which comes first and holds the run outputs.
        best = max((c for c in self.candidates if c.duplicate_of is None), key=lambda c: c.rank)
        if best.status != "ok":
            summary = self._summary(sampled, searched, skipped, None, dvs, executable, best_of_n,
                                    time.time() - t0)
            write_json_atomic(self.out / "cook.json", summary)
            self._report(summary)
            raise DatachefError(f"no candidate recipe produced data (see {self.out / 'candidates'})")
        self._publish(best)
        summary = self._summary(sampled, searched, skipped, best, dvs, executable, best_of_n, time.time() - t0)
        write_json_atomic(self.out / "cook.json", summary)
        self._report(summary)
        return summary

    def _publish(self, best: Candidate) -> None:
        """Copy the best candidate to DIR/best via a temporary folder, replaced in one rename."""
        tmp = self.out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(best.out_dir / "run", tmp)
        shutil.copy2(best.out_dir / "status.json", tmp / "status.json")
        final = self.out / "best"
        if final.exists():
            old = self.out / ".best.old"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)

    def _summary(self, sampled, searched, skipped, best, dvs, executable, best_of_n, seconds) -> dict[str, Any]:
        # One client may play several roles (the embedded model is chef and judge): count its usage once.
        roles: dict[int, tuple[list[str], LLMClient]] = {}
        coder = self.chef.coder if self.chef.coder is not self.chef.llm else None
        for role, client in (("chef", self.chef.llm), ("coder", coder), ("judge", self.judge)):
            if isinstance(client, LLMClient):
                roles.setdefault(id(client), ([], client))[0].append(role)
        usage = {"+".join(names): client.usage.as_dict() for names, client in roles.values()}
        return {
            "task": self.task.name, "form": self.chef.config.form, "decoupled": self.chef.config.decoupled,
            "chef_model": f"{self.chef.llm.backend}:{self.chef.llm.model}",
            "n": len(sampled), "executable": executable, "executability": executable / max(1, len(sampled)),
            f"dvs_avg@{len(sampled)}": dvs, "dvs_avg": dvs, "reward": self.config.reward,
            # The same N drafts scored by the paper's reward (the sample's mean rubric score), for comparison.
            "dvs_avg_paper": sum(max(0.0, c.parts.get("paper", 0.0)) if c.status == "ok" else 0.0
                                 for c in sampled) / max(1, len(sampled)),
            "distinct_drafts": sum(c.duplicate_of is None for c in sampled),
            "redrawn_drafts": self.redrawn,  # repeats replaced by new recipes before execution
            # Runs not made: drafts sharing an earlier draft's result, and search moves whose program was scored.
            "executions_saved": {"drafts": sum(c.duplicate_of is not None for c in sampled),
                                 "search": len(skipped)},
            "best_of_n": {"id": best_of_n.id, "score": best_of_n.reward, "records": best_of_n.records},
            "search": {"budget": self.config.search_budget, "tried": len(searched), "skipped": skipped,
                       "best_score": max([c.reward for c in searched], default=None)},
            "best": best.summary() if best else None,
            "improvement_over_best_of_n": (best.reward - best_of_n.reward) if best else None,
            "candidates": [c.summary() for c in self.candidates],
            "usage": usage, "seconds": round(seconds, 1),
        }

    def _report(self, summary: dict[str, Any]) -> None:
        from ..report.html import cook_report

        (self.out / "report.html").write_text(cook_report(summary, self.out), encoding="utf-8")
