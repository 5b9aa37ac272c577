"""`datachef.kit`: the operators as plain functions over lists of rows, for Python-program recipes.

    from datachef import kit
    rows = kit.load("gsm8k_train", limit=2000)
    rows = kit.filter(rows, "'####' in answer")
    rows = kit.extract_answer(rows, field="answer", rationale_into="steps")
    rows = kit.dedup(rows, fields=["question"])
    chat = kit.to_chat(rows, user="{question}", assistant="{steps}\\n#### {final_answer}")
    kit.dump(chat)

A row is a dict of fields plus `_meta` = {"source", "row", "ops"}: where it came from and the steps it went through.
`load` creates it; keep it on every row you build yourself (`dict(row, new_field=...)` does), because `dump` refuses
rows without provenance. Functions never change the lists or rows they are given; they return new ones.

Each function runs the real registered operator (`datachef.ops`), the same code the typed engine runs, so a kit
step and a typed step behave identically. The step id recorded in provenance and statistics is the function's name
(`filter`, then `filter.2` for a second call, ...). Rows dropped by each step are counted per reason in a ledger that
`dump` writes next to the data (`stats.json`), with up to 20 dropped rows per reason (`dropped.jsonl`).

Inside the sandbox (`datachef.engine.python_recipe`), the steps that need what a script may not touch -- reading the
task's sources (`load`), the held-out benchmark (`decontaminate`) and the LLM (`generate_with_llm`,
`generate_rows`) -- are executed by the trusted parent process through the sandbox broker. Outside it, call
`kit.configure(task, out_dir=...)` first and everything runs in-process.
"""
# No `from __future__ import annotations` here: the chef reads these signatures (inspect.signature), and evaluated
# annotations print as `rows: list[dict]` rather than as quoted strings.
import inspect
import json
import os
from pathlib import Path
from typing import Any, Iterable, Literal

import orjson

from .engine.context import build_context
from .engine.memory import check_row_lists, row_provenance, run_in_memory
from .engine.protocol import (BROKERED_OPS, DROPPED_FILE, ENV_CAPS, ENV_OUT, ENV_SEED, ENV_TASK, RECORDS_FILE,
                              STATS_FILE)
from .errors import DatachefError, ExecutionError
from .ops import OpContext, get_op
from .spec import StepStats, TaskSpec
from .spec.record import chat_problem, plain_messages

__all__ = ["load", "filter", "map", "rename", "select", "template", "extract_answer", "dedup", "decontaminate",
           "quality_filter", "language_filter", "generate_with_llm", "generate_rows", "to_chat", "sample", "mix",
           "concat", "shuffle", "apply", "dump"]

Rows = list[dict]  # a list of rows (what every function takes and returns)


# ---------------------------------------------------------------------------------------------------------------
# The session: where rows come from, where broker calls go, the ledger
# ---------------------------------------------------------------------------------------------------------------
class _Session:
    def __init__(self, ctx: OpContext, *, out_dir: Path | None = None, broker: Any = None):
        self.ctx, self.out_dir, self.broker = ctx, out_dir, broker
        self.steps: list[StepStats] = []
        self.samples: list[dict[str, Any]] = []
        self.calls: dict[str, int] = {}
        self.dumped = False

    def step_id(self, name: str) -> str:
        n = self.calls[name] = self.calls.get(name, 0) + 1
        return name if n == 1 else f"{name}.{n}"

    def run(self, fn: str, op_name: str, inputs: list[Rows], args: dict[str, Any]) -> Rows:
        step_id = self.step_id(fn)
        if self.broker is not None and op_name in BROKERED_OPS:
            rows, stats, samples = self._brokered(step_id, op_name, inputs, args)
        else:
            rows, stats, samples = run_in_memory(self.ctx, step_id, op_name, inputs, args)
        self.steps.append(stats)
        self.samples.extend(samples)
        return rows

    def _brokered(self, step_id: str, op_name: str, inputs: list[Rows], args: dict[str, Any]):
        from .engine.sandbox import BrokerError

        check_row_lists(inputs, step_id, op_name)  # same message as in-process when a row lacks provenance
        try:
            header, rows = self.broker.call({"op": op_name, "step": step_id, "args": args}, inputs)
        except BrokerError as e:
            raise ExecutionError(str(e)) from None
        stats = StepStats.model_validate(header.get("stats") or {"id": step_id, "op": op_name})
        return rows, stats, list(header.get("samples") or [])

    def ledger(self) -> dict[str, Any]:
        return {"steps": [s.model_dump(mode="json") for s in self.steps]}


_SESSION: _Session | None = None


def configure(task: TaskSpec, *, out_dir: str | Path | None = None, llm: Any = None, seed: int = 0,
              workdir: str | Path | None = None) -> None:
    """Use the kit in this process for `task` (outside the sandbox): sources open locally, `dump` writes into
    `out_dir`. Resets the ledger."""
    global _SESSION
    ctx = build_context(task, seed=seed, workdir=Path(workdir) if workdir else None, llm=llm)
    _SESSION = _Session(ctx, out_dir=Path(out_dir) if out_dir else None)


def _from_env() -> _Session:
    """The session of a sandboxed script: the task, output folder and broker come from the runner."""
    from .engine.sandbox import BrokerClient
    from .io import parse_model

    task_file = os.environ.get(ENV_TASK)
    if not task_file:
        raise DatachefError("datachef.kit is not configured: run the script as a recipe (`datachef run`), or call "
                            "kit.configure(task, out_dir=...) first")
    blob = json.loads(Path(task_file).read_text(encoding="utf-8"))
    task = parse_model(TaskSpec, blob["task"], file=task_file)
    task._base_dir = Path(blob["base_dir"]) if blob.get("base_dir") else None
    out = Path(os.environ.get(ENV_OUT, "."))
    caps = {c for c in os.environ.get(ENV_CAPS, "").split(",") if c}
    seed = int(os.environ.get(ENV_SEED, "0") or 0)
    broker = BrokerClient.from_env()
    if broker is None:  # the runner gave no broker: read sources locally
        ctx = build_context(task, seed=seed, workdir=out / "tmp", capabilities=caps)
    else:
        ctx = OpContext(task=task, workdir=out / "tmp", seed=seed, capabilities=caps)
    return _Session(ctx, out_dir=out, broker=broker)


def _session() -> _Session:
    global _SESSION
    if _SESSION is None:
        _SESSION = _from_env()
    return _SESSION


def ledger() -> list[dict[str, Any]]:
    """Statistics of every step run so far in this session (what `dump` writes to stats.json)."""
    return _session().ledger()["steps"]


def _run(fn: str, op_name: str, inputs: list[Rows], args: dict[str, Any]) -> Rows:
    return _session().run(fn, op_name, inputs, args)


def _supplied(local_vars: dict[str, Any], *skip: str) -> dict[str, Any]:
    return {k: v for k, v in local_vars.items() if k not in skip}


# ---------------------------------------------------------------------------------------------------------------
# The API scripts call
# ---------------------------------------------------------------------------------------------------------------
def load(source: str, split: str | None = None, limit: int | None = None, shuffle_seed: int | None = None,
         on_malformed: Literal["fail", "skip"] = "fail") -> Rows:
    """Read rows from one of the task's sources (by id); each row gets provenance {source, row, ops}.

    `limit` caps how many rows are read; with `shuffle_seed` the cap takes a seeded random subset instead of the
    first rows. `on_malformed="skip"` skips (and counts) unreadable lines instead of failing."""
    return _run("load", "load", [], _supplied(locals()))


def filter(rows: Rows, expr: str | None = None, *, length: dict | list[dict] | None = None,
           regex: dict | list[dict] | None = None, keywords: dict | list[dict] | None = None,
           numeric_answer: str | None = None) -> Rows:
    """Keep rows passing every predicate: a safe expression over fields (e.g. "'####' in answer and
    len(question) > 20"), length bounds ({field, min, max, unit}), regex ({field, pattern, mode}), keywords ({field,
    any, all, none}), or a field that must contain a number. Drop reasons: expr, too_short:<f>, too_long:<f>, ..."""
    args = {k: v for k, v in _supplied(locals(), "rows").items() if v is not None}
    return _run("filter", "filter", [rows], args)


def map(rows: Rows, set: dict[str, str]) -> Rows:  # noqa: A001,A002 - the kit mirrors the op names
    """Compute fields from safe expressions, e.g. set={"n_words": "word_count(question)", "q": "question.strip()"}.
    A row whose expression fails is dropped (map_error:<field>)."""
    return _run("map", "map", [rows], {"set": set})


def rename(rows: Rows, mapping: dict[str, str]) -> Rows:
    """Rename fields, e.g. mapping={"problem": "question", "solution": "answer"}."""
    return _run("rename", "rename", [rows], {"mapping": mapping})


def select(rows: Rows, fields: list[str]) -> Rows:
    """Keep only the listed fields (provenance is always kept)."""
    return _run("select", "select", [rows], {"fields": fields})


def template(rows: Rows, field: str, template: str) -> Rows:
    """Write a text field from a template over the row's fields, e.g. field="prompt",
    template="Question: {question}\\nAnswer:" (Python format syntax; {{ for a literal brace)."""
    return _run("template", "template", [rows], {"field": field, "template": template})


def extract_answer(rows: Rows, field: str = "answer", pattern: str = r"####\s*(.+?)\s*$",
                   into: str = "final_answer", rationale_into: str | None = None, numeric: bool = True,
                   on_missing: Literal["drop", "keep"] = "drop") -> Rows:
    """Extract a final answer (GSM8K's '#### 42' by default) from `field` into `into`, optionally the reasoning
    before it into `rationale_into` (calculator annotations removed). Rows without an answer are dropped
    (no_answer) unless on_missing="keep"."""
    return _run("extract_answer", "extract_answer", [rows], _supplied(locals(), "rows"))


def dedup(rows: Rows, /, fields: list[str] | None = None, near: bool = False, threshold: float = 0.8,
          **options) -> Rows:
    """Remove duplicates, keeping the first occurrence: exact (after lowercasing and removing punctuation; reason
    duplicate) or, with near=True, near-duplicates by MinHash over word 5-grams with Jaccard > threshold (reason
    near_duplicate; options: ngram, num_perm, bands, rows, verify, seed). `fields` default: all text fields."""
    if near:
        return _run("dedup", "dedup_near", [rows], {"fields": fields, "threshold": threshold, **options})
    if threshold != 0.8:
        raise ExecutionError("threshold applies to near=True only", step="dedup", op="dedup_exact",
                             field="threshold")
    return _run("dedup", "dedup_exact", [rows], {"fields": fields, **options})


def decontaminate(rows: Rows, fields: list[str] | None = None, ngram: int = 8, min_item_overlap: float = 0.7,
                  max_item_frequency: int = 2, include_dev: bool = False, min_distinctive_words: int = 16,
                  max_answer_repeat: float = 0.05) -> Rows:
    """Drop rows that reproduce a held-out benchmark item (reason benchmark_overlap): their shared word
    `ngram`-grams cover at least `min_item_overlap` of one item's question or answer, numbers included (n-grams in
    more than `max_item_frequency` items are template text and ignored; a part with fewer than
    `min_distinctive_words` other words, and every answer when more than `max_answer_repeat` of the benchmark's
    answers repeat, identify no item), or a field is an item's whole question. Runs against the full benchmark,
    which the script never sees."""
    return _run("decontaminate", "decontaminate", [rows], _supplied(locals(), "rows"))


def quality_filter(rows: Rows, **thresholds) -> Rows:
    """Drop low-quality text with Gopher/C4-style heuristics (too few/many words, symbol soup, repeated lines or
    n-grams, long character runs, few real words, truncated lines). Thresholds are keyword arguments (see the
    signature); set one to None to disable it. Reason: the first failing check's name."""
    return _run("quality_filter", "quality_filter", [rows], thresholds)


def language_filter(rows: Rows, languages: list[str] = ["en"], fields: list[str] | None = None,  # noqa: B006
                    min_score: float = 0.5, min_chars: int = 20) -> Rows:
    """Keep rows whose text is in one of `languages` (ISO 639-1 codes), detected offline with fastText.
    Reasons: language_<code>, language_low_confidence. Texts shorter than min_chars are kept."""
    return _run("language_filter", "language_filter", [rows], _supplied(locals(), "rows"))


def generate_with_llm(rows: Rows, prompt: str, into: str, system: str | None = None,
                      parse: Literal["text", "final_answer", "json"] = "text", answer_into: str | None = None,
                      max_tokens: int = 512, temperature: float = 0.0, batch_size: int = 16, seed: int = 0) -> Rows:
    """Rewrite or enrich each row with the configured LLM: the response to `prompt` (a template over the row's
    fields, e.g. "Solve step by step: {question}") goes to `into`. parse="final_answer" requires a final '#### N'
    line (N goes to answer_into); parse="json" requires a JSON object. Unusable responses drop the row."""
    return _run("generate_with_llm", "llm_map", [rows], _supplied(locals(), "rows"))


def generate_rows(rows: Rows, prompt: str, into: str, n: int = 1, system: str | None = None,
                  parse: Literal["text", "json"] = "text", max_tokens: int = 512, temperature: float = 0.8,
                  batch_size: int = 16, seed: int = 0) -> Rows:
    """Generate `n` new rows per input row with the configured LLM (e.g. new problems in the style of an example):
    each keeps the input's fields plus `into` (with parse="json", the object's keys become fields too)."""
    return _run("generate_rows", "llm_generate", [rows], _supplied(locals(), "rows"))


def to_chat(rows: Rows, user: str, assistant: str, system: str | None = None, keep_fields: bool = False) -> Rows:
    """Build the training conversation `messages` = [system?, user, assistant] from templates over the row's
    fields, e.g. user="{question}", assistant="{steps}\\n#### {final_answer}". Rows whose user or assistant text
    renders empty are dropped (empty_turn). Pass the result to `dump`."""
    return _run("to_chat", "to_chat", [rows], _supplied(locals(), "rows"))


def sample(rows: Rows, n: int | None = None, fraction: float | None = None, seed: int = 0) -> Rows:
    """Keep a uniform random subset of `n` rows (or a `fraction`), in input order (reason not_sampled)."""
    return _run("sample", "sample", [rows], {k: v for k, v in _supplied(locals(), "rows").items() if v is not None})


def mix(inputs: list[Rows], weights: list[float], total: int, seed: int = 0) -> Rows:
    """Mix several row lists to `total` rows in proportion to `weights` (one per list); each list contributes a
    uniform random subset, grouped by input (follow with shuffle to interleave)."""
    return _run("mix", "mix", _row_lists(inputs, "mix"), {"weights": weights, "total": total, "seed": seed})


def concat(*inputs: Rows) -> Rows:
    """Concatenate row lists in order: concat(a, b) or concat([a, b]). Keeps the fields common to all."""
    lists = list(inputs[0]) if len(inputs) == 1 and _is_list_of_lists(inputs[0]) else list(inputs)
    return _run("concat", "concat", _row_lists(lists, "concat"), {})


def shuffle(rows: Rows, seed: int = 0) -> Rows:
    """Shuffle rows (seeded)."""
    return _run("shuffle", "shuffle", [rows], {"seed": seed})


def apply(op: str, rows: Rows | list[Rows] | None = None, **args) -> Rows:
    """Run any registered operator by name (see `datachef ops`), e.g. apply("dedup_near", rows, threshold=0.7);
    pass a list of row lists to an op taking several inputs."""
    op_cls = get_op(op, step="apply")
    if op_cls.inputs == "none":
        inputs: list[Rows] = []
    elif op_cls.inputs == "many":
        inputs = _row_lists(rows or [], "apply")
    else:
        inputs = [rows if rows is not None else []]
    return _run(op, op, inputs, args)


def dump(rows: Rows) -> int:
    """Write `rows` (chat rows from `to_chat`) as the recipe's final corpus; returns the number of records.
    Call it once, at the end of the script."""
    s = _session()
    if s.dumped:
        raise ExecutionError("dump() was already called; build one final list of rows and dump it once",
                             step="dump")
    if s.out_dir is None:
        raise ExecutionError("no output folder: call kit.configure(task, out_dir=...) before dump()", step="dump")
    if not isinstance(rows, list):
        raise ExecutionError(f"dump() takes a list of rows, got {type(rows).__name__}", step="dump")
    records = [_record(r, i) for i, r in enumerate(rows)]
    from .io import atomic_open, write_json_atomic

    s.out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(s.out_dir / RECORDS_FILE, "wb") as f:
        for rec in records:
            f.write(orjson.dumps(rec) + b"\n")
    with atomic_open(s.out_dir / DROPPED_FILE, "wb") as f:
        for d in s.samples:
            f.write(orjson.dumps(d, default=str) + b"\n")
    write_json_atomic(s.out_dir / STATS_FILE, {**s.ledger(), "records": len(records)})
    s.dumped = True
    return len(records)


def _record(row: Any, i: int) -> dict[str, Any]:
    meta = row_provenance(row, "dump", "dump", i)
    problem = chat_problem(row.get("messages"))
    if problem is not None:
        raise ExecutionError(f"row {i} is not a chat record: {problem} (build it with kit.to_chat)", step="dump",
                             field="messages")
    return {"messages": plain_messages(row["messages"]), "meta": {**meta, "ops": list(meta["ops"])}}


# -- helpers ----------------------------------------------------------------------------------------------------
def _is_list_of_lists(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(e, list) for e in x)


def _row_lists(inputs: Iterable[Any], fn: str) -> list[Rows]:
    lists = list(inputs)
    if not lists or not all(isinstance(x, list) for x in lists):
        raise ExecutionError(f"{fn}() takes a list of row lists, e.g. {fn}([rows_a, rows_b], ...)", step=fn)
    return lists


def _params_signature(fn: Any, op_name: str) -> None:
    """Show an op's parameters (with their defaults) in `fn`'s signature, so the chef's API listing is complete."""
    params = get_op(op_name).Params.model_fields
    lead = [inspect.Parameter("rows", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Rows)]
    kw = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=f.default) for name, f in params.items()]
    fn.__signature__ = inspect.Signature(lead + kw, return_annotation=Rows)


_params_signature(quality_filter, "quality_filter")
