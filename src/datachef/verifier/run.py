"""Score a recipe's output folder: read `data.jsonl`, sample, gate, check, judge, write `verify.json`."""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..answers import extract_answer, extract_letter, states_an_answer
from ..io import task_base_dir, write_json_atomic
from ..llm.base import LLMClient
from ..spec import TaskSpec
from .checkers import (MIN_WORKING_WORDS, CheckResult, SourceRows, check_arithmetic_consistency, check_code,
                       check_math_answer, check_mcq, check_question_expression, gold_answer, working_words)
from .config import GRADES, Grade, VerifierConfig, VerifierError
from .corpus import CorpusScan, read_records, scan_corpus
from .gates import Gates, GateResult, first_turn, gate_verdict, last_turn
from .judge import (JudgeContext, LocalSignals, Verdict, calibrate, decide_local, judge_could_matter,
                    judge_structured, label_scores, reference_scores)
from .reward import RewardParts, composite_reward, reward
from .solvers import check_solvable

JudgeMode = Literal["auto", "labels", "structured"]
REPORT_FILE = "verify.json"


@dataclass
class InstanceResult:
    index: int  # 0-based line of data.jsonl (blank lines not counted)
    grade: str
    score: float
    reason: str
    decided_by: str  # "gate" | "checker" | "judge" | "signals" (local: embeddings/shape alone decided)
    reference_answer: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] | None = None


@dataclass
class VerifyReport:
    out_dir: str
    task: str
    status: str  # "scored" | "empty" | "format_violation"
    score: float  # the reward R
    records: int
    sampled: int
    seed: int
    grade_histogram: dict[str, int]
    judge: dict[str, Any]
    config: dict[str, Any]
    timings: dict[str, float]
    usage: dict[str, int]
    instances: list[InstanceResult] = field(default_factory=list)
    malformed: list[dict[str, Any]] = field(default_factory=list)
    malformed_lines: int = 0
    reward: dict[str, Any] = field(default_factory=dict)  # RewardParts (paper, composite and their parts)
    corpus: dict[str, Any] = field(default_factory=dict)  # whole-corpus checks: leak/duplicate fractions, examples

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def judged(self) -> int:
        return sum(1 for i in self.instances if i.decided_by == "judge")


class Verifier:
    """The Data Verifier for one task; reusable across output folders (the benchmark, n-gram index, embeddings and
    judge model are loaded once).

    judge: "local" (the embedded SmolLM2 via `make_client("local")`, label mode), or any `LLMClient`.
    judge_mode: "auto" picks label scoring for the transformers backend and structured JSON otherwise.
    """

    def __init__(self, task: TaskSpec, *, judge: str | LLMClient = "local", judge_mode: JudgeMode = "auto",
                 config: VerifierConfig | None = None, base_dir: Path | None = None,
                 judge_cache: str | Path | None | Literal[False] = None):
        from ..sources import load_benchmark

        self.task = task
        self.config = config or VerifierConfig()
        self.base_dir = Path(base_dir) if base_dir is not None else task_base_dir(task)
        t0 = time.perf_counter()
        self.dev, held_out = load_benchmark(task, self.base_dir)
        self._held_out = held_out
        self._near_share: float | None = None
        self._template: np.ndarray | None = None
        self.gates = Gates(self.config, task, self.base_dir, benchmark_rows=self.dev + held_out)
        self.context = JudgeContext.from_task(task, self.dev, self.config)
        self.local_context = JudgeContext.from_task(task, self.dev, self.config, self.config.local_dev_examples)
        if isinstance(judge, str):
            if judge != "local":
                raise VerifierError(f"judge must be 'local' or an LLMClient, not {judge!r} (build a remote judge with "
                                    f"datachef.llm.make_client('openai', model=..., base_url=...))", field="judge")
            self._client: LLMClient | None = None  # the embedded model is loaded on first use
            self._judge_cache = judge_cache
            backend = "transformers"
        else:
            self._client = judge
            backend = judge.backend
        if judge_mode == "auto":
            judge_mode = "labels" if backend == "transformers" else "structured"
        if judge_mode not in ("labels", "structured"):
            raise VerifierError(f"judge_mode must be auto, labels or structured, not {judge_mode!r}",
                                field="judge_mode")
        self.mode = judge_mode
        self._relevance = None
        self._null: dict[str, float] | None = None
        self._last_relevance_s = 0.0
        self._shape_words = self._shape_reference()
        self.setup_s = time.perf_counter() - t0

    @property
    def client(self) -> LLMClient:
        if self._client is None:
            from ..llm import make_client

            self._client = make_client("local", cache_dir=self._judge_cache)
        return self._client

    def _judge_info(self) -> dict[str, Any]:
        if self._client is None:
            return {"backend": "transformers", "model": "(embedded default, not loaded)", "mode": self.mode}
        return {"backend": self._client.backend, "model": self._client.model, "mode": self.mode}

    def _usage(self) -> dict[str, int]:
        if self._client is None:
            return {"requests": 0, "cached_requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        return self._client.usage.as_dict()

    # -- one-time pieces of the local judge ----------------------------------------------------------------
    def _shape_reference(self) -> float | None:
        """The dev answers' 5th-percentile word count, when the benchmark's answers show their work: the typical
        (median) dev answer has a few words of working besides its final-answer line."""
        if self.task.benchmark.format != "numeric":
            return None
        answers = [str(d.get(self.task.benchmark.fields.answer, "")) for d in self.dev]
        if not answers or float(np.median([working_words(a, self.task.benchmark.answer_pattern)
                                           for a in answers])) < MIN_WORKING_WORDS:
            return None
        return float(np.quantile([len(a.split()) for a in answers], 0.05))

    def relevance(self):
        if self._relevance is None:
            from .relevance import Relevance

            f = self.task.benchmark.fields
            self._relevance = Relevance([str(d.get(f.question, "")) for d in self.dev],
                                        top_k=self.config.relevance_top_k, quantile=self.config.relevance_quantile,
                                        model_path=self.config.embedding_model)
        return self._relevance

    def null_scores(self) -> dict[str, float]:
        """The local judge's calibration reference, computed once (dev items after the one the prompt shows)."""
        if self._null is None:
            f = self.task.benchmark.fields
            skip = self.config.local_dev_examples
            pool = self.dev[skip:] if len(self.dev) > skip else self.dev
            chats = []
            for item in pool:
                q = str(item.get(f.question, ""))
                if f.choices:
                    q += "\n" + "\n".join(f"{chr(65 + i)}. {item.get(c, '')}" for i, c in enumerate(f.choices))
                answer = str(item.get(f.answer, ""))
                chats.append([{"role": "user", "content": q}, {"role": "assistant", "content": answer}])
            self._null = reference_scores(self.client, self.local_context, chats, self.config)
        return self._null

    # -- scoring ----------------------------------------------------------------------------------------------
    def verify(self, out_dir: str | Path, *, sample: int | None = None, seed: int = 0,
               write: bool = True) -> VerifyReport:
        """Score `out_dir/data.jsonl` and (by default) write `out_dir/verify.json` atomically."""
        out = Path(out_dir)
        c = self.config
        n_sample = sample if sample is not None else c.sample
        if n_sample <= 0:
            raise VerifierError(f"sample must be >= 1, not {n_sample}", field="sample")
        timings: dict[str, float] = {"setup_s": round(self.setup_s, 3)}
        usage_before = self._usage()
        t_start = time.perf_counter()
        data = out / "data.jsonl"

        def finish(status: str, score: float, records: int, instances: list[InstanceResult],
                   scan: CorpusScan | None = None, parts: RewardParts | None = None,
                   breadth: dict[str, float] | None = None) -> VerifyReport:
            timings["total_s"] = round(time.perf_counter() - t_start, 3)
            after = self._usage()
            hist = Counter(i.grade for i in instances)
            report = VerifyReport(
                out_dir=str(out), task=self.task.name, status=status, score=round(score, 6), records=records,
                sampled=len(instances), seed=seed, grade_histogram={g: hist.get(g, 0) for g in GRADES},
                judge=self._judge_info(),
                config=c.model_dump(mode="json"), timings=timings,
                usage={k: after[k] - usage_before.get(k, 0) for k in after}, instances=instances,
                malformed=scan.malformed if scan else [], malformed_lines=scan.malformed_count if scan else 0,
                reward={"kind": c.reward, **(parts.as_dict() if parts else {}), "breadth_detail": breadth},
                corpus=scan.summary() if scan else {})
            if write:
                write_json_atomic(out / REPORT_FILE, report.as_dict())
            return report

        if not data.is_file():
            return finish("empty", reward([], empty=True, config=c), 0, [])
        # Every record, not only the sample: malformed lines, exact and near copies, held-out leaks.
        scan = self.check_corpus(data)
        timings["corpus_checks_s"] = round(scan.seconds, 3)
        if scan.total == 0:
            return finish("empty", reward([], empty=True, config=c), 0, [], scan)
        if scan.malformed_count / scan.total > c.max_malformed_fraction or not scan.good:
            return finish("format_violation", reward([], format_violation=True, config=c), scan.total, [], scan)

        # A seeded sample of the well-formed records, read in a second pass.
        t = time.perf_counter()
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(scan.good), min(n_sample, scan.good)))
        recs = read_records(data, set(picked))
        items = [(pos, int(scan.line_of[pos]), recs[pos]) for pos in picked]
        results: dict[int, InstanceResult] = {}
        gate_results: dict[int, list[GateResult]] = {}
        for pos, index, rec in items:
            gates = self.gates.check(rec["messages"], duplicate_of=_line(scan, scan.duplicate_of.get(pos)),
                                     near_duplicate_of=_line(scan, scan.near_duplicate_of.get(pos)))
            gate_results[index] = gates
            failed = gate_verdict(gates)
            if failed is not None:
                results[index] = self._result(index, rec, Grade(failed.grade), f"{failed.name} gate: {failed.detail}",
                                              "gate", gates)
        timings["gates_s"] = round(time.perf_counter() - t, 3)

        # Checkers on what passed the gates.
        t = time.perf_counter()
        open_items = [(index, rec) for _, index, rec in items if index not in results]
        checks, finals = self._run_checkers(open_items)
        timings["checkers_s"] = round(time.perf_counter() - t, 3)

        # The judge.
        t = time.perf_counter()
        self._last_relevance_s = 0.0
        if self.mode == "structured":
            self._judge_structured(open_items, checks, gate_results, results)
        else:
            self._judge_local(open_items, checks, finals, gate_results, results)
        timings["judge_s"] = round(time.perf_counter() - t - self._last_relevance_s, 3)
        timings["relevance_s"] = round(self._last_relevance_s, 3)
        judged = sum(1 for r in results.values() if r.decided_by == "judge")
        timings["judged_per_s"] = round(judged / timings["judge_s"], 3) if timings["judge_s"] > 0 else 0.0

        instances = [results[index] for _, index, _ in items]
        t = time.perf_counter()
        breadth = self._breadth([first_turn(rec["messages"], "user") for _, index, rec in items
                                 if results[index].grade == Grade.PASS.value])
        timings["breadth_s"] = round(time.perf_counter() - t, 3)
        fractions = scan.fractions()
        parts = composite_reward([(results[index].score, scan.flagged(pos)) for pos, index, _ in items],
                                 records=scan.good, flagged_fraction=fractions["flagged_fraction"],
                                 leak_fraction=fractions["leak_fraction"], budget=self.task.budget.train_samples,
                                 breadth=breadth["breadth"] if breadth else None, config=c)
        return finish("scored", parts.composite if c.reward == "composite" else parts.paper, scan.total, instances,
                      scan, parts, breadth)

    def check_corpus(self, data: str | Path) -> CorpusScan:
        """The whole-corpus checks (corpus.py) of a data.jsonl, as `verify` runs them."""
        c = self.config
        near = None
        if c.check_near_duplicates:
            from ..ops import OpContext
            from ..ops.dedup_near import DedupNear, DedupNearParams

            near = DedupNear(DedupNearParams(fields=["messages"], threshold=c.near_duplicate_threshold),
                             OpContext(task=self.task), "verifier-near-duplicates")
            near.bind([{"messages": "messages"}])
            near.setup()
            near.ignored = self._template_shingles(near.params.ngram)
            alike = self._benchmark_near_share(near)
            if alike > c.near_duplicate_max_benchmark_share:
                near = None
        leak = None
        if self.gates.checks_contamination:
            def leak(messages: list[dict[str, Any]]) -> str | None:
                g = self.gates.contamination(messages)
                return None if g.passed else g.detail
        scan = scan_corpus(data, exact=c.check_duplicates, near=near, leak=leak)
        if c.check_near_duplicates and near is None:
            scan.near_check = (f"off: {alike:.0%} of the benchmark's own items are near copies of another, so the "
                               f"check cannot tell a copy from a new problem in this format")
        return scan

    def _benchmark_near_share(self, near: Any) -> float:
        """Share of the benchmark's own items that the near-copy check takes for copies of another (once per
        verifier). Where distinct problems look alike to word shingles (grids of two symbols), it cannot tell a copy
        from a new problem; exact copies are still found."""
        if self._near_share is None:
            import tempfile

            from ..ops.dedup_near import cluster_root

            f = self.task.benchmark.fields
            rows = [{"messages": [
                {"role": "user", "content": "\n".join(str(it.get(k) or "") for k in [f.question, *(f.choices or [])])},
                {"role": "assistant", "content": str(it.get(f.answer) or "") if f.answer else ""}]}
                for it in self.dev + self._held_out]
            with tempfile.TemporaryDirectory(prefix="datachef-verify-") as tmp:
                near.ctx.workdir = Path(tmp)
                parent, n = near.clusters(rows)
            self._near_share = sum(cluster_root(parent, k) != k for k in range(n)) / max(1, n)
        return self._near_share

    def _template_shingles(self, n: int) -> np.ndarray:
        """Word n-grams that at least `near_duplicate_template_share` of the benchmark's items share (a generator's
        preamble, an MCQ stem): records written in the benchmark's template are near copies only in what differs,
        so clean data of a templated task is not flagged, while one problem renumbered still is (its own wording
        is no benchmark template). Computed once per verifier."""
        if self._template is None:
            from ..ops.dedup_near import text_shingles

            f = self.task.benchmark.fields
            items = self.dev + self._held_out
            per_item = [np.unique(np.concatenate([text_shingles(str(it.get(k) or ""), n) for k in
                                                  [f.question, f.answer, *(f.choices or [])] if k]))
                        for it in items]
            self._template = np.empty(0, dtype=np.uint64)
            if per_item:
                shingles, counts = np.unique(np.concatenate(per_item), return_counts=True)
                self._template = shingles[counts >= max(3, self.config.near_duplicate_template_share * len(items))]
        return self._template

    def _breadth(self, passing_questions: list[str]) -> dict[str, float] | None:
        """The sample's breadth: coverage of the dev questions by its passing records (relevance.Relevance.coverage),
        or None when not measured."""
        if not self.config.use_breadth or self.config.reward != "composite":
            return None
        return self.relevance().coverage(passing_questions, self.config.coverage_k)

    def _result(self, index: int, rec: dict[str, Any], grade: Grade, reason: str, decided_by: str,
                gates: list[GateResult], checks: list[CheckResult] | None = None, reference: str | None = None,
                signals: dict[str, Any] | None = None) -> InstanceResult:
        meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else None
        return InstanceResult(index=index, grade=grade.value, score=self.config.score(grade), reason=reason,
                              decided_by=decided_by, reference_answer=reference,
                              gates=[g.as_dict() for g in gates], checks=[x.as_dict() for x in checks or []],
                              signals=signals or {}, meta=meta)

    def _run_checkers(self, items: list[tuple[int, dict[str, Any]]]
                      ) -> tuple[dict[int, list[CheckResult]], dict[int, str | None]]:
        c, bench = self.config, self.task.benchmark
        fmt, pattern = bench.format, bench.answer_pattern
        rows = SourceRows(self.task, self.base_dir)
        if c.use_source_gold or fmt == "code":
            wanted: dict[str, set[int]] = {}
            for _, rec in items:
                meta = rec.get("meta")
                if isinstance(meta, dict) and isinstance(meta.get("source"), str) and isinstance(meta.get("row"), int) \
                        and meta["row"] >= 0:
                    wanted.setdefault(meta["source"], set()).add(meta["row"])
            rows.prefetch(wanted)
        checks: dict[int, list[CheckResult]] = {}
        finals: dict[int, str | None] = {}
        for index, rec in items:
            msgs = rec["messages"]
            user, response = first_turn(msgs, "user"), last_turn(msgs, "assistant")
            meta = rec.get("meta") if isinstance(rec.get("meta"), dict) else {}
            row = rows.get(meta.get("source"), meta.get("row")) if meta.get("source") is not None else None
            out: list[CheckResult] = []
            final = None
            if fmt in ("numeric", "free"):
                final = extract_answer(response, pattern)
                if c.use_source_gold:
                    gold, why = (gold_answer(row, fmt, pattern, user, c.gold_min_overlap) if row is not None
                                 else (None, rows.errors.get(meta.get("source"), "no source row for this record")))
                    res = check_math_answer(final, gold) if gold is not None else \
                        CheckResult("gold_answer", "skip", why)
                    if gold is not None and final is None:
                        # Missing final answer is the local decision's business (it depends on topicality).
                        res = CheckResult("gold_answer", "skip", "the response states no final answer", gold)
                    out.append(res)
                if fmt == "numeric" and c.arithmetic_check:
                    out.append(check_arithmetic_consistency(response, final))
                    out.append(check_question_expression(user, final))
                solved = check_solvable(user, response, pattern) if c.solver_check else None
                if solved is not None:
                    out.append(solved)
            elif fmt == "mcq":
                gold = None
                if c.use_source_gold and row is not None:
                    gold, _ = gold_answer(row, "mcq", pattern, user, c.gold_min_overlap)
                n = len(bench.fields.choices) if bench.fields.choices else None
                out.append(check_mcq(response, user, gold, n, pattern))
                final = extract_letter(response, answer_pattern=pattern)
            elif fmt == "code":
                out.append(check_code(response, row, timeout_s=c.code_timeout_s, memory_mb=c.code_memory_mb))
            checks[index], finals[index] = out, final
        return checks, finals

    def _judge_structured(self, items, checks, gate_results, results) -> None:
        todo = []
        for index, rec in items:
            failed = next((x for x in checks[index] if x.status == "fail"), None)
            if failed is not None:  # deterministic evidence decides, the judge is not asked
                results[index] = self._result(index, rec, Grade.INCORRECT, f"{failed.name} checker: {failed.detail}",
                                              "checker", gate_results[index], checks[index], failed.reference)
            else:
                todo.append((index, rec["messages"], checks[index]))
        verdicts = judge_structured(self.client, self.context, todo, self.config)
        for index, rec in items:
            if index in verdicts:
                v = verdicts[index]
                results[index] = self._result(index, rec, v.grade, v.reason, "judge", gate_results[index],
                                              checks[index], v.reference_answer, v.signals)

    def _judge_local(self, items, checks, finals, gate_results, results) -> None:
        if not items:
            return
        fmt = self.task.benchmark.format
        # A failing checker decides alone (Incorrect): no embedding or judge needed for those.
        undecided = [(index, rec) for index, rec in items if not any(x.status == "fail" for x in checks[index])]
        t = time.perf_counter()
        relevance = dict(zip([index for index, _ in undecided],
                             self.relevance().score([first_turn(r["messages"], "user") for _, r in undecided])
                             if undecided else []))
        self._last_relevance_s = time.perf_counter() - t
        for index, rec in items:
            cks = checks[index]
            s = LocalSignals(checks=cks, final_answer=finals.get(index), needs_final_answer=fmt in ("numeric", "mcq"),
                             states_answer=states_an_answer(last_turn(rec["messages"], "assistant")),
                             relevance=relevance.get(index, {}),
                             response_words=len(last_turn(rec["messages"], "assistant").split()),
                             shape_reference_words=self._shape_words, judge_logprobs=None)
            ask = index in relevance and (self.config.judge_policy == "always" or judge_could_matter(s, self.config))
            if ask:
                s.judge_logprobs = calibrate(label_scores(self.client, self.local_context, rec["messages"],
                                                          self.config), self.null_scores())
            v: Verdict = decide_local(s, self.config)
            if not ask:
                v.signals["judge"] = "not asked: no label score could change this grade"
            decided_by = "judge" if ask else ("checker" if any(x.status != "skip" for x in cks) else "signals")
            results[index] = self._result(index, rec, v.grade, v.reason, decided_by, gate_results[index], cks,
                                          v.reference_answer, v.signals)


def verify_run(out_dir: str | Path, task: TaskSpec, *, judge: str | LLMClient = "local", sample: int = 100,
               seed: int = 0, config: VerifierConfig | None = None, judge_mode: JudgeMode = "auto",
               base_dir: Path | None = None) -> VerifyReport:
    """Score a recipe run's output folder and write `OUT_DIR/verify.json`; returns the report (`.score` is the
    reward). `judge` is "local" (the embedded SmolLM2, label scoring + embeddings + checkers) or an LLMClient (a
    strong judge answering rubric JSON). A judge failure raises VerifierError; nothing is silently scored."""
    verifier = Verifier(task, judge=judge, judge_mode=judge_mode, config=config, base_dir=base_dir)
    return verifier.verify(out_dir, sample=sample, seed=seed)


def verify_command(out_dir: str | Path, task_path: str | Path, *, judge: str = "local", model: str | None = None,
                   base_url: str | None = None, sample: int = 100, seed: int = 0,
                   cache_dir: str | Path | None | Literal[False] = None,
                   reward: Literal["composite", "paper"] = "composite") -> VerifyReport:
    """What `datachef verify OUT_DIR --task T [--judge local|openai --model M --base-url URL] [--sample N]
    [--reward composite|paper]` does: load the task, build the judge, score the folder, write verify.json. Argument
    errors raise LLMError."""
    from ..io import load_task
    from ..llm import RoleFlags, make_role_client

    task = load_task(task_path)
    client = make_role_client("judge", judge, model, base_url, cache_dir=cache_dir,
                              flags=RoleFlags("--judge", "--model", "--base-url"))
    verifier = Verifier(task, judge=client, judge_cache=cache_dir, config=VerifierConfig(reward=reward))
    return verifier.verify(out_dir, sample=sample, seed=seed)


def format_report(report: VerifyReport) -> str:
    """A few lines for the terminal: the reward, the grade histogram, the worst reasons."""
    lines = [f"{report.out_dir}: reward {report.score:.3f} ({report.status}; {report.sampled} of {report.records} "
             f"records graded, judge {report.judge['backend']} '{report.judge['model']}' in {report.judge['mode']} "
             f"mode, {report.timings.get('total_s', 0):.1f}s)"]
    if report.status == "format_violation":
        lines += [f"  line {m['line']}: {m['error']}" for m in report.malformed[:5]]
    elif report.status == "scored":
        r, cp = report.reward, report.corpus
        lines.append(f"  {r['kind']} reward: quality {r['quality']:.3f} x yield {r['yield_factor']:.3f} ("
                     f"{r['useful_records']} useful records) x breadth {r['breadth']:.3f} x leak factor "
                     f"{r['leak_factor']:.3f} = {r['composite']:.3f}; paper reward {r['paper']:.3f}")
        near = cp.get("near_duplicate_check", "on")
        lines.append(f"  whole corpus: {cp['leaks']} leaked, {cp['duplicates']} duplicate, "
                     + (f"{cp['near_duplicates']} near-duplicate" if near == "on" else "near copies not checked")
                     + f" of {cp['records']} records ({cp['seconds']:.1f}s)")
        if near != "on":
            lines.append(f"  near-copy check {near}")
        lines.append("  " + ", ".join(f"{g}: {n}" for g, n in report.grade_histogram.items()))
        reasons = Counter(i.reason.split(":")[0] for i in report.instances if i.grade != Grade.PASS.value)
        lines += [f"  {n} × {r}" for r, n in reasons.most_common(5)]
    return "\n".join(lines)


def _line(scan: CorpusScan, record: int | None) -> int | None:
    """A record's index among the corpus's lines (what reports name), or None."""
    return None if record is None else int(scan.line_of[record])
