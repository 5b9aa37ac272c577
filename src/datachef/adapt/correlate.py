"""The proxy–downstream correlation study (the paper's validation of the Data Verifier).

Build K corpora of one fixed budget that differ in where the data comes from and what it looks like, score each with
the verifier, train the base model on each, evaluate every trained model on the task's held-out benchmark, and
measure how well each proxy (verifier score, mean response length, embedding relevance to the benchmark) predicts
each downstream score (accuracy, negative gold-answer NLL) across corpora: Pearson and Spearman with p-values.

Corpora (ids in brackets):
- single-source [`src-<source>`]: a typed recipe load → to_chat → sample(budget), with the source's most plausible
  (user, assistant) field pair (`sources.field_pairs` over its profile), run by the engine (step-cached).
  When the task has more sources than single-source slots, the rule is: sources that can fill the budget (by their
  profiled row count) first, in the task's order, then the smaller ones, largest first. `sources=` overrides it.
- length-based [`len-shortest`, `len-longest`, `len-q50`, ...]: windows of `budget` records from the union of the
  single-source corpora sorted by assistant length, centred on evenly spaced quantiles (2 windows: shortest and
  longest; 3: plus the middle; ...).
- size-based [`size-<source>-25`, `size-<source>-50`]: the first 25%, 50%, ... (`size_fractions`) of a seeded
  shuffle of one single-source corpus (`size_source`, default the first), nested; with the full corpus beside them
  they show whether a proxy sees how much of the budget a corpus delivers.
- recipe [`recipe-<name>`]: each given recipe file run as-is, then sampled down to the budget (seeded).
K counts single-source and length-based corpora (`length_subsets` of them, more when the task has too few sources);
size and recipe corpora come on top.

Everything lands in OUT/corpora/<id>/ (run/ with data.jsonl + manifest, verify.json, proxies.json, train/train.json,
adapter/ of a LoRA run, eval.json + eval_items.jsonl, stages.json), OUT/base/eval.json (the untrained base model:
a reference row, not part of the correlation), OUT/correlation.json, OUT/table.md, OUT/table.csv and OUT/scatter.png.
Every stage records a fingerprint of what it depends on in stages.json after its output is written
(`datachef.stages`), so a killed study resumes: a stage whose output exists with a matching fingerprint is skipped,
training continues from its last checkpoint. Full model checkpoints (a merged 135M model is ~0.5 GB) are deleted
after evaluation unless `keep_checkpoints`; LoRA adapters are kept, and evaluating again with other settings (e.g.
a longer generation budget) evaluates the kept adapter merged into the base instead of training again.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..io import atomic_open, iter_jsonl, load_recipe, load_task, sha256_file, task_base_dir, write_json_atomic
from ..spec import Plan, PlanItem, Recipe, Step, TaskSpec
from ..stages import Stage, StageLedger, StageOutcome, fingerprint
from .correlation import (DOWNSTREAM, PAPER_MEAN_PEARSON, PROXIES, StudyResult, correlate_scores, correlation_table,
                          mean_finite, render_table, score_spread, write_outputs)
from ..verifier.config import VERIFIER_VERSION
from .train import AdaptError, TrainConfig, resolve_base

if TYPE_CHECKING:
    from ..llm.base import LLMClient
    from ..verifier import Verifier

__all__ = ["CorpusPlan", "CorrelateConfig", "StudyResult", "correlate_scores", "correlation_table", "plan_corpora",
           "render_table", "run_correlation", "single_source_recipe"]

Log = Callable[[str], None]


class CorrelateConfig(BaseModel):
    """Settings of a correlation study. Defaults: 8 corpora of the task's budget, CPU LoRA training of the embedded
    SmolLM2-135M-Instruct, 200 held-out items, 100 verifier-graded instances per corpus."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(8, ge=2, description="Single-source + length-based corpora (recipe corpora come on top).")
    budget: int | None = Field(None, gt=0, description="Records per corpus (None = the task's "
                                                       "budget.train_samples).")
    base: str | None = Field(None, description="Base model: HF id or folder; None = the embedded SmolLM2.")
    profile: Literal["cpu", "gpu"] = Field("cpu", description="Training preset (TrainConfig.profile).")
    train: dict[str, Any] = Field(default_factory=dict, description="TrainConfig field overrides.")
    eval_limit: int | None = Field(200, gt=0, description="Held-out benchmark items evaluated (None = all).")
    eval_batch_size: int = Field(16, gt=0, description="Generation batch size.")
    max_new_tokens: int = Field(64, gt=0, description="Generation budget per benchmark item.")
    sample: int = Field(100, gt=0, description="Instances the verifier grades per corpus.")
    judge: str = Field("local", description="Verifier judge (name recorded; a client may be passed to "
                                            "run_correlation).")
    seed: int = Field(0, description="Seed for source sampling, verifier sampling and training.")
    recipes: list[str] = Field(default_factory=list, description="Recipe files whose outputs join as corpora.")
    sources: list[str] | None = Field(None, description="Single-source corpora from these sources (default: the "
                                                        "rule in the module docstring).")
    length_subsets: int = Field(2, ge=0, description="Length-based corpora (at least; more if sources are few).")
    size_fractions: list[float] = Field([0.25, 0.5], description="Size-based corpora: these fractions of the budget, "
                                                                 "cut from one single-source corpus.")
    size_source: str | None = Field(None, description="Source of the size-based corpora (default: the first "
                                                      "single-source corpus's).")
    relevance_sample: int = Field(500, gt=0, description="User turns per corpus embedded for the relevance proxy.")
    keep_checkpoints: bool = Field(False, description="Keep full model checkpoints after evaluation.")
    cache_dir: str | None = Field(None, description="Engine step cache (default $DATACHEF_CACHE or ~/.cache).")


@dataclass
class CorpusPlan:
    """One corpus of the study: how it is built."""

    id: str
    kind: Literal["source", "length", "size", "recipe"]
    description: str
    source: str | None = None
    fields: tuple[str, str] | None = None
    quantile: float | None = None
    fraction: float | None = None  # size-based: share of the budget, cut from `of` (a single-source corpus id)
    of: str | None = None
    recipe_file: str | None = None


# ---------------------------------------------------------------------------------------------------------- helpers

def _slug(text: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
    return s.strip("._")[:60] or "corpus"


def _read_records(path: Path) -> list[dict[str, Any]]:
    return list(iter_jsonl(path))


def _turn(rec: dict[str, Any], role: str, last: bool) -> str:
    turns = [m.get("content", "") for m in rec.get("messages", []) if m.get("role") == role]
    if not turns:
        return ""
    return str(turns[-1] if last else turns[0])


def _write_records(path: Path, records: list[dict[str, Any]]) -> None:
    with atomic_open(path) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------------------------------------- planning

def single_source_recipe(task: TaskSpec, source: str, user: str, assistant: str, budget: int, seed: int) -> Recipe:
    """The typed recipe of a single-source corpus: a seeded subset of the source as chats, `budget` records."""
    steps = [
        # Twice the budget is read so that rows dropped by to_chat (an empty turn) do not leave the corpus short.
        Step(id="load", op="load", args={"source": source, "limit": 2 * budget, "shuffle_seed": seed}),
        Step(id="chat", op="to_chat", input="load",
             args={"user": "{" + user + "}", "assistant": "{" + assistant + "}"}),
        Step(id="sample", op="sample", input="chat", args={"n": budget, "seed": seed}),
    ]
    plan = Plan(training_data=[PlanItem(source=source, sample=budget, reason="correlation study: single source")],
                workflow=f"{budget} random rows of '{source}' as chats ({user} -> {assistant}).")
    return Recipe(name=f"correlate-{source}", task=task.name, plan=plan, steps=steps, output="sample")


def _length_quantiles(n: int) -> list[float]:
    if n <= 0:
        return []
    if n == 1:
        return [0.0]
    return [j / (n - 1) for j in range(n)]


def _length_id(q: float) -> str:
    return {0.0: "len-shortest", 1.0: "len-longest", 0.5: "len-middle"}.get(round(q, 6), f"len-q{round(q * 100):02d}")


def plan_corpora(task: TaskSpec, config: CorrelateConfig, budget: int, *,
                 log: Log | None = None) -> tuple[list[CorpusPlan], list[str]]:
    """The corpora of the study and notes on choices made (sources skipped or left out)."""
    from ..sources import field_pairs, open_source, profile_source

    notes: list[str] = []
    base = task_base_dir(task)
    known = [s.id for s in task.sources]
    wanted = config.sources if config.sources is not None else known
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise AdaptError(f"unknown source(s) {', '.join(unknown)} (the task has: {', '.join(known)})",
                         field="sources")
    candidates: list[tuple[str, tuple[str, str], int | None]] = []
    for sid in wanted:
        profile = profile_source(open_source(task.source(sid), base), n_examples=0, scan=200)
        pairs = field_pairs(profile, max_pairs=1)
        if not pairs:
            notes.append(f"source '{sid}' skipped: no plausible (user, assistant) pair of text fields")
            continue
        candidates.append((sid, pairs[0], profile.rows))

    slots = max(0, config.k - config.length_subsets) if candidates else 0
    if candidates and slots == 0:
        slots = 1  # length subsets are cut from single-source corpora: at least one is needed
    if config.sources is None and len(candidates) > slots:
        # Sources that can fill the budget first (task order), then smaller ones, largest first.
        order = {sid: i for i, sid in enumerate(known)}
        ranked = sorted(candidates, key=lambda c: (0, order[c[0]]) if (c[2] or 0) >= budget
                        else (1, -(c[2] or 0), order[c[0]]))
        left_out = [c[0] for c in ranked[slots:]]
        candidates = [c for c in candidates if c[0] not in left_out]  # keep the task's order
        notes.append(f"{len(left_out)} source(s) left out for lack of slots (k={config.k}): {', '.join(left_out)}")
    elif len(candidates) > slots:
        slots = len(candidates)  # explicitly chosen sources are all kept
    plans = [CorpusPlan(id=f"src-{_slug(sid)}", kind="source", description=f"{sid}: {u} -> {a}", source=sid,
                        fields=(u, a)) for sid, (u, a), _ in candidates]
    n_length = max(0, config.k - len(plans)) if plans else 0
    plans += [CorpusPlan(id=_length_id(q), kind="length", quantile=q,
                         description=f"{budget} records around the {q:.0%} quantile of response length")
              for q in _length_quantiles(n_length)]
    singles = [p for p in plans if p.kind == "source"]
    if config.size_fractions and singles:
        base = next((p for p in singles if p.source == config.size_source), None) if config.size_source else singles[0]
        if base is None:
            raise AdaptError(f"size_source '{config.size_source}' has no single-source corpus (planned: "
                             f"{', '.join(p.source or '' for p in singles)})", field="size_source")
        for f in sorted(set(config.size_fractions)):
            if not 0 < f < 1:
                raise AdaptError(f"size fractions must lie in (0, 1), got {f}", field="size_fractions")
            plans.append(CorpusPlan(id=f"size-{_slug(base.source or '')}-{round(f * 100):02d}", kind="size",
                                    source=base.source, fraction=f, of=base.id,
                                    description=f"{round(f * budget)} records: the first {f:.0%} of {base.id}"))
    seen: set[str] = {p.id for p in plans}
    for i, rf in enumerate(config.recipes):
        cid = f"recipe-{_slug(Path(rf).stem)}"
        if cid in seen:
            cid = f"{cid}-{i}"
        seen.add(cid)
        plans.append(CorpusPlan(id=cid, kind="recipe", recipe_file=str(rf), description=f"recipe {rf}"))
    if not plans:
        raise AdaptError("nothing to correlate: no source has a usable text field pair and no recipe was given")
    if len(plans) < 3:
        notes.append(f"only {len(plans)} corpora: correlations need at least 3")
    if log:
        for n in notes:
            log(f"note: {n}")
    return plans, notes


# --------------------------------------------------------------------------------------------------------- the study

class _Study:
    def __init__(self, task: TaskSpec, out: Path, config: CorrelateConfig, judge: "str | LLMClient | None",
                 log: Log | None):
        self.task, self.out, self.config, self.log_fn = task, out, config, log
        self.judge = judge if judge is not None else config.judge
        self.budget = config.budget or task.budget.train_samples
        self.base_ref = config.base
        self._verifier: Verifier | None = None
        self._tokenizer = None
        self.wall: dict[str, float] = {}

    def log(self, msg: str) -> None:
        if self.log_fn:
            self.log_fn(msg)

    # -- shared heavy objects, built on first use --------------------------------------------------------------
    @property
    def verifier(self) -> "Verifier":
        if self._verifier is None:
            from ..verifier import Verifier

            self._verifier = Verifier(self.task, judge=self.judge)
        return self._verifier

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from .train import load_tokenizer

            self._tokenizer = load_tokenizer(resolve_base(self.base_ref))
        return self._tokenizer

    def judge_name(self) -> str:
        j = self.judge
        return j if isinstance(j, str) else f"{j.backend}:{j.model}"

    def train_config(self) -> TrainConfig:
        return TrainConfig.profile(self.config.profile, **{"max_samples": self.budget, "seed": self.config.seed,
                                                           **self.config.train})

    # -- building ----------------------------------------------------------------------------------------------
    def source_fingerprints(self, ids: list[str]) -> dict[str, str]:
        from ..sources import open_source

        return {sid: open_source(self.task.source(sid), task_base_dir(self.task)).fingerprint() for sid in ids}

    def _ran(self, stage: str, outcome: StageOutcome) -> StageOutcome:
        if outcome.ran:
            self.wall[stage] = round(self.wall.get(stage, 0.0) + outcome.seconds, 2)
        return outcome

    def build(self, plan: CorpusPlan, singles: dict[str, Path]) -> Path:
        folder = self.out / "corpora" / plan.id
        run_dir = folder / "run"
        data = run_dir / "data.jsonl"
        c = self.config
        if plan.kind == "source":
            recipe = single_source_recipe(self.task, plan.source, *plan.fields, self.budget, c.seed)
            inputs: dict[str, Any] = {"recipe": recipe.content_hash(),
                                      "sources": self.source_fingerprints([plan.source])}
        elif plan.kind == "recipe":
            recipe = load_recipe(plan.recipe_file)
            inputs = {"recipe": recipe.content_hash(), "budget": self.budget, "seed": c.seed,
                      "sources": self.source_fingerprints([s.id for s in self.task.sources])}
        elif plan.kind == "size":
            inputs = {"fraction": plan.fraction, "budget": self.budget, "seed": c.seed,
                      "input": sha256_file(singles[plan.of])}
        else:
            inputs = {"quantile": plan.quantile, "budget": self.budget,
                      "inputs": {cid: sha256_file(p) for cid, p in sorted(singles.items())}}

        def work() -> dict[str, Any]:
            if plan.kind == "source":
                from ..engine import run_recipe

                self.log(f"[{plan.id}] building: {plan.description}")
                run_recipe(recipe, self.task, run_dir, cache_dir=c.cache_dir, seed=c.seed, progress=False)
            elif plan.kind == "recipe":
                self._build_from_recipe(plan, recipe, folder)
            elif plan.kind == "size":
                self._build_size(plan, singles[plan.of], run_dir)
            else:
                self._build_length(plan, singles, run_dir)
            return {"records": sum(1 for _ in iter_jsonl(data)), "data_sha256": sha256_file(data)}

        self._ran("build", StageLedger(folder).run(Stage(
            "build", inputs, work, outputs=[data],
            invalidates=("verify", "proxies", "train_started", "train", "eval"))))
        return data

    def _build_from_recipe(self, plan: CorpusPlan, recipe: Recipe, folder: Path) -> None:
        from ..engine import run_recipe

        self.log(f"[{plan.id}] running {plan.recipe_file}")
        full = folder / "full"
        manifest = run_recipe(recipe, self.task, full, cache_dir=self.config.cache_dir, seed=self.config.seed,
                              progress=False, recipe_file=plan.recipe_file)
        records = _read_records(full / manifest.output.path) if manifest.output.format == "messages" else None
        if records is None:
            raise AdaptError("a recipe of the correlation study must write chat records (format messages)",
                             file=plan.recipe_file)
        if len(records) > self.budget:
            keep = sorted(random.Random(self.config.seed).sample(range(len(records)), self.budget))
            records = [records[i] for i in keep]
        run_dir = folder / "run"
        _write_records(run_dir / "data.jsonl", records)
        shutil.copy2(full / "manifest.json", run_dir / "manifest.json")
        shutil.copy2(full / "recipe.yaml", run_dir / "recipe.yaml")

    def _build_size(self, plan: CorpusPlan, full: Path, run_dir: Path) -> None:
        """The first `fraction` of the budget from a seeded shuffle of a single-source corpus: smaller corpora of
        the same data, each inside the next (the order does not depend on the fraction)."""
        records = _read_records(full)
        order = list(range(len(records)))
        random.Random(f"size-{self.config.seed}").shuffle(order)
        chosen = [records[i] for i in sorted(order[:round((plan.fraction or 0.0) * self.budget)])]
        self.log(f"[{plan.id}] {len(chosen)} of {len(records)} records of {plan.of}")
        _write_records(run_dir / "data.jsonl", chosen)
        write_json_atomic(run_dir / "selection.json", {"kind": "size", "fraction": plan.fraction, "of": plan.of,
                                                       "records": len(chosen)})

    def _build_length(self, plan: CorpusPlan, singles: dict[str, Path], run_dir: Path) -> None:
        pool: list[tuple[int, int, str, int, dict[str, Any]]] = []
        for cid, path in sorted(singles.items()):
            for i, rec in enumerate(_read_records(path)):
                pool.append((len(_turn(rec, "assistant", True)), len(_turn(rec, "user", False)), cid, i, rec))
        pool.sort(key=lambda x: x[:4])
        width = min(self.budget, len(pool))
        start = round((plan.quantile or 0.0) * (len(pool) - width))
        chosen = [x[4] for x in pool[start:start + width]]
        self.log(f"[{plan.id}] {len(chosen)} of {len(pool)} pooled records, response length "
                 f"{pool[start][0]}-{pool[start + width - 1][0]} chars")
        _write_records(run_dir / "data.jsonl", chosen)
        write_json_atomic(run_dir / "selection.json", {
            "kind": "length", "quantile": plan.quantile, "pool": len(pool), "start": start, "records": len(chosen),
            "from": sorted(singles), "min_chars": pool[start][0], "max_chars": pool[start + width - 1][0]})

    # -- proxies -----------------------------------------------------------------------------------------------
    def verify(self, plan: CorpusPlan, data: Path) -> dict[str, Any]:
        folder = data.parent.parent
        ledger = StageLedger(folder)
        c = self.config
        out = folder / "verify.json"

        def work() -> dict[str, Any]:
            report = self.verifier.verify(data.parent, sample=c.sample, seed=c.seed, write=False)
            write_json_atomic(out, report.as_dict())
            self.log(f"[{plan.id}] verifier score {report.score:.3f} ({report.status}; "
                     + ", ".join(f"{g} {n}" for g, n in report.grade_histogram.items() if n) + ")")
            return {"score": report.score}

        inputs = {"data": ledger.get("build").get("data_sha256"), "judge": self.judge_name(), "sample": c.sample,
                  "seed": c.seed, "verifier": VERIFIER_VERSION}
        self._ran("verify", ledger.run(Stage("verify", inputs, work, outputs=[out])))
        return json.loads(out.read_text(encoding="utf-8"))

    def proxies(self, plan: CorpusPlan, data: Path) -> dict[str, Any]:
        folder = data.parent.parent
        ledger = StageLedger(folder)
        c = self.config
        out = folder / "proxies.json"

        def work() -> None:
            records = _read_records(data)
            responses = [_turn(r, "assistant", True) for r in records]
            tokens = [len(self.tokenizer(x, add_special_tokens=False)["input_ids"]) for x in responses]
            users = [_turn(r, "user", False) for r in records]
            if len(users) > c.relevance_sample:
                users = random.Random(c.seed).sample(users, c.relevance_sample)
            sims = [s["question_similarity"] for s in self.verifier.relevance().score(users)]
            write_json_atomic(out, {"records": len(records),
                                    "length_chars": mean_finite([float(len(x)) for x in responses]),
                                    "length_tokens": mean_finite([float(n) for n in tokens]),
                                    "relevance": mean_finite(sims), "relevance_sampled": len(users)})

        inputs = {"data": ledger.get("build").get("data_sha256"), "base": c.base,
                  "relevance_sample": c.relevance_sample, "seed": c.seed}
        self._ran("proxies", ledger.run(Stage("proxies", inputs, work, outputs=[out])))
        return json.loads(out.read_text(encoding="utf-8"))

    # -- downstream --------------------------------------------------------------------------------------------
    def eval_settings(self) -> dict[str, Any]:
        c = self.config
        return {"limit": c.eval_limit, "batch_size": c.eval_batch_size, "max_new_tokens": c.max_new_tokens}

    def train_and_eval(self, plan: CorpusPlan, data: Path) -> dict[str, Any]:
        from .evaluate import evaluate
        from .train import train_sft

        folder = data.parent.parent
        ledger = StageLedger(folder)
        cfg = self.train_config()
        train_inputs = {"data": ledger.get("build").get("data_sha256"), "base": self.config.base,
                        "config": cfg.model_dump(mode="json")}
        eval_inputs = {"train": fingerprint(train_inputs), **self.eval_settings()}
        train_dir, adapter_dir, out = folder / "train", folder / "adapter", folder / "eval.json"

        def adapter_ready() -> bool:
            # The adapter kept of this very training: re-evaluating with other settings need not train again.
            # (Studies from before the "adapter" mark: the old pruning kept one only for the training recorded.)
            fp = fingerprint(train_inputs)
            mark = ledger.get("adapter").get("fp") or ledger.get("train").get("fp")
            return mark == fp and (adapter_dir / "adapter_config.json").is_file()

        def train() -> dict[str, Any]:
            fp = fingerprint(train_inputs)
            if ledger.get("train_started").get("fp") != fp:
                shutil.rmtree(train_dir, ignore_errors=True)  # another corpus or config: its checkpoints are stale
                ledger.mark("train_started", fp)
            elif ledger.get("train").get("fp") == fp:
                # Trained, but the model was deleted after an evaluation with other settings: train again.
                shutil.rmtree(train_dir, ignore_errors=True)
            self.log(f"[{plan.id}] training ({self.config.profile} profile, {ledger.get('build').get('records')} "
                     f"records)")
            res = train_sft(data, self.config.base, train_dir, cfg, resume=True,
                            log=(lambda m: self.log(f"[{plan.id}] {m}")) if self.log_fn else None)
            return {"steps": res.steps, "train_loss": res.train_loss, "final_loss": res.final_loss,
                    "samples": res.samples}

        def evaluate_trained() -> dict[str, Any]:
            s = self.eval_settings()
            model = train_dir if (train_dir / "final" / "config.json").is_file() else adapter_dir
            result = evaluate(model, self.task, limit=s["limit"], batch_size=s["batch_size"],
                              max_new_tokens=s["max_new_tokens"], out=folder)
            self.log(f"[{plan.id}] {result.metric} {result.score:.3f}, gold NLL {result.nll:.3f}")
            if not self.config.keep_checkpoints and model == train_dir:
                if _prune_checkpoints(train_dir, adapter_dir):
                    ledger.mark("adapter", fingerprint(train_inputs))
            return {"score": result.score, "nll": result.nll}

        # Training is its own stage, needed only while the evaluation is not done and no adapter of it is kept (its
        # model may be pruned since).
        if not ledger.done("eval", fingerprint(eval_inputs), [out]) and not adapter_ready():
            self._ran("train", ledger.run(Stage("train", train_inputs, train,
                                                outputs=[train_dir / "final" / "config.json"])))
        self._ran("eval", ledger.run(Stage("eval", eval_inputs, evaluate_trained, outputs=[out])))
        return json.loads(out.read_text(encoding="utf-8"))

    def base_eval(self) -> dict[str, Any]:
        from .evaluate import evaluate

        folder = self.out / "base"
        out = folder / "eval.json"

        def work() -> dict[str, Any]:
            s = self.eval_settings()
            self.log("[base] evaluating the untrained base model")
            result = evaluate(self.config.base, self.task, limit=s["limit"], batch_size=s["batch_size"],
                              max_new_tokens=s["max_new_tokens"], out=folder)
            self.log(f"[base] {result.metric} {result.score:.3f}, gold NLL {result.nll:.3f}")
            return {"score": result.score, "nll": result.nll}

        self._ran("base_eval", StageLedger(folder).run(Stage("eval", {"base": self.config.base,
                                                                      **self.eval_settings()}, work, outputs=[out])))
        return json.loads(out.read_text(encoding="utf-8"))


def _prune_checkpoints(train_dir: Path, adapter_dir: Path) -> bool:
    """Delete the merged final model and the checkpoints, keeping the last LoRA adapter (a few MB; the trainer
    checkpoints the last step too, so it is the final model's) if any; True when one was kept. An older adapter is
    removed when there is none: it belongs to another training."""
    ckpts = sorted((p for p in (train_dir / "checkpoints").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1])) if (train_dir / "checkpoints").is_dir() else []
    kept = bool(ckpts) and (ckpts[-1] / "adapter_config.json").is_file()
    if kept:
        tmp = adapter_dir.with_name(adapter_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in ckpts[-1].glob("adapter_*"):
            shutil.copy2(f, tmp / f.name)
        shutil.rmtree(adapter_dir, ignore_errors=True)
        tmp.rename(adapter_dir)
    else:
        shutil.rmtree(adapter_dir, ignore_errors=True)
    shutil.rmtree(train_dir / "final", ignore_errors=True)
    shutil.rmtree(train_dir / "checkpoints", ignore_errors=True)
    return kept


def run_correlation(task: TaskSpec | str | Path, out: str | Path, config: CorrelateConfig | None = None, *,
                    judge: "str | LLMClient | None" = None, log: Log | None = None) -> StudyResult:
    """Run the correlation study for `task` into `out` (resumable; see the module docstring) and return its
    result; OUT/correlation.json, table.md, table.csv and scatter.png are (re)written at the end.

    `judge`: the verifier's judge ("local" = the embedded model, or an LLMClient); default `config.judge`."""
    config = config or CorrelateConfig()
    if not isinstance(task, TaskSpec):
        task = load_task(task)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    study = _Study(task, out, config, judge, log)
    plans, notes = plan_corpora(task, config, study.budget, log=log)
    write_json_atomic(out / "plan.json", {"task": task.name, "budget": study.budget, "config": config.model_dump(
        mode="json"), "corpora": [p.__dict__ for p in plans], "notes": notes})

    data: dict[str, Path] = {}
    for p in plans:
        if p.kind in ("source", "recipe"):
            data[p.id] = study.build(p, {})
    singles = {p.id: data[p.id] for p in plans if p.kind == "source"}
    for p in plans:
        if p.kind in ("length", "size"):
            data[p.id] = study.build(p, singles)

    rows: list[dict[str, Any]] = []
    for p in plans:
        report = study.verify(p, data[p.id])
        proxies = study.proxies(p, data[p.id])
        rows.append({"id": p.id, "kind": p.kind, "description": p.description, "records": proxies["records"],
                     "verifier": report["score"], "verifier_paper": report.get("reward", {}).get("paper",
                                                                                                 report["score"]),
                     "grades": report["grade_histogram"],
                     "length_chars": proxies["length_chars"], "length_tokens": proxies["length_tokens"],
                     "relevance": proxies["relevance"]})
    base = study.base_eval()
    for p, row in zip(plans, rows):
        ev = study.train_and_eval(p, data[p.id])
        st = StageLedger(out / "corpora" / p.id).get("train")
        row.update(accuracy=ev["score"], nll=ev["nll"], neg_nll=-ev["nll"] if ev["nll"] is not None else None,
                   metric=ev["metric"], eval_n=ev["n"], train_loss=st.get("train_loss"), train_steps=st.get("steps"))

    correlations = correlation_table(rows)
    for proxy, by_score in correlations.items():
        for score, r in by_score.items():
            if r["note"]:
                notes.append(f"{proxy} vs {score}: {r['note']}")
    summary = {p: {"mean_pearson": mean_finite([correlations[p][d]["pearson"] for d in DOWNSTREAM]),
                   "mean_spearman": mean_finite([correlations[p][d]["spearman"] for d in DOWNSTREAM])}
               for p in PROXIES}
    summary["paper_mean_pearson"] = PAPER_MEAN_PEARSON
    summary["accuracy_spread"] = score_spread(rows)
    timings = _stage_seconds(out, plans)
    timings["base_eval"] = StageLedger(out / "base").get("eval").get("seconds", 0.0)
    timings["this_invocation"] = round(time.time() - started, 2)
    base_row = {"accuracy": base["score"], "nll": base["nll"], "metric": base["metric"], "n": base["n"]}
    result = StudyResult(out=out, rows=rows, base=base_row, correlations=correlations, summary=summary,
                         timings=timings, notes=notes)
    write_outputs(result, task=task.name, config=config, budget=study.budget)
    return result


def _stage_seconds(out: Path, plans: list[CorpusPlan]) -> dict[str, float]:
    """Seconds per stage summed over corpora, as recorded when each stage ran (a resumed study keeps its cost)."""
    total: dict[str, float] = {s: 0.0 for s in ("build", "verify", "proxies", "train", "eval")}
    for p in plans:
        st = StageLedger(out / "corpora" / p.id)
        for s in total:
            total[s] += float(st.get(s).get("seconds", 0.0) or 0.0)
    return {k: round(v, 2) for k, v in total.items()}


