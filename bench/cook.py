"""`cook` with the embedded chef (SmolLM2-135M-Instruct, in-process) on the gsm8k kitchen: how often its recipes
run, how good their data is, and what verifier-guided search adds, for the typed and the Python recipe forms; with
the expert recipe's verifier score as the reference.

    .venv/bin/python bench/cook.py                                   # n 8, search budget 4, sample 50
    .venv/bin/python bench/cook.py --n 4 --search-budget 2 --sample 30 --json cook_bench.json

Per mode, one `Cook` run (the library's own pipeline: draft N recipes, execute and verify each, refine the best
under the search budget) gives both figures "without search" (executability, DVS_avg@N, best-of-N) and "with
search" (the best score after refinement, and its gain over best-of-N). One model instance serves as chef and
judge, as `datachef cook` does with the embedded model; the judge is the local one (label scoring + embeddings +
checkers), exactly what `Verifier(task, judge="local")` builds, and the expert recipe is scored by the same judge.
No LLM request cache: every figure is computed, not replayed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from datachef.chef import Chef, ChefConfig
from datachef.chef.cook import Cook, CookConfig
from datachef.errors import DatachefError
from datachef.llm.base import LLMError

MODES = ("typed", "python")


class TimedChef(Chef):
    """The library's Chef, timing its drafting (N recipes plus bounded repairs) apart from execution/verification."""

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.draft_s = 0.0

    def draft(self, *args: Any, **kw: Any):
        t0 = time.perf_counter()
        try:
            return super().draft(*args, **kw)
        finally:
            self.draft_s += time.perf_counter() - t0


def _load() -> float:
    return os.getloadavg()[0]


def _error_kind(error: str | None) -> str:
    """A short bucket for a candidate's error (the first clause), so that reasons can be counted."""
    if not error:
        return "?"
    first = error.strip().splitlines()[0]
    return first.split(":")[0][:70] if ":" in first[:70] else first[:70]


def run_expert(task, kitchen_dir: Path, out: Path, judge, sample: int, seed: int) -> dict[str, Any]:
    """Execute the kitchen's hand-written expert recipe and score it with the judge the candidates get."""
    from datachef.engine import run_recipe
    from datachef.io import load_recipe
    from datachef.verifier import Verifier

    t0 = time.perf_counter()
    manifest = run_recipe(load_recipe(kitchen_dir / "expert_recipe.yaml"), task, out / "expert",
                          cache_dir=out / "expert-steps", seed=seed, progress=False)
    run_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = Verifier(task, judge=judge).verify(out / "expert", sample=sample, seed=seed)
    return {"records": manifest.output.records, "score": report.score, "grades": report.grade_histogram,
            "run_s": round(run_s, 1), "verify_s": round(time.perf_counter() - t0, 1)}


def run_mode(mode: str, task, llm, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One `cook` run for a recipe form; the summary comes from cook.json (written even when nothing ran)."""
    chef = TimedChef(llm, ChefConfig(form=mode, max_tokens=args.max_tokens, max_repairs=args.max_repairs,
                                     temperature=args.temperature, seed=args.seed))
    cook = Cook(task, out / mode, chef, llm, CookConfig(n=args.n, search_budget=args.search_budget,
                                                        sample=args.sample, seed=args.seed,
                                                        cache_dir=out / mode / "steps"),
                log=(lambda m: print(f"  [{mode}] {m}", file=sys.stderr, flush=True)) if args.verbose else None)
    usage_before = llm.usage.as_dict()
    load_before, t0 = _load(), time.perf_counter()
    error = None
    try:
        summary = cook.run()
    except LLMError:
        raise  # the model itself failed: nothing to measure
    except DatachefError as e:  # no candidate produced data; cook.json is still written
        error = str(e)
        summary = json.loads((out / mode / "cook.json").read_text())
    wall = time.perf_counter() - t0
    chef_usage = {k: v - usage_before[k] for k, v in llm.usage.as_dict().items()}  # the judge only scores labels
    sampled = [c for c in summary["candidates"] if c["origin"] == "sample"]
    searched = [c for c in summary["candidates"] if c["origin"] != "sample"]
    best_after = summary["best"]["score"] if summary["best"] else 0.0
    return {
        "mode": mode, "n": summary["n"], "executable": summary["executable"],
        "executability": summary["executability"], "dvs_avg": summary["dvs_avg"],
        "best_of_n": summary["best_of_n"]["score"], "best_after_search": best_after,
        "search_gain": best_after - summary["best_of_n"]["score"],
        "search_tried": summary["search"]["tried"], "search_ok": sum(c["status"] == "ok" for c in searched),
        "wall_s": round(wall, 1), "draft_s": round(chef.draft_s, 1),
        "execute_verify_s": round(sum(c["seconds"] for c in summary["candidates"]), 1),
        "chef_tokens": chef_usage["prompt_tokens"] + chef_usage["completion_tokens"],
        "chef_usage": chef_usage, "repairs": sum(c["repairs"] for c in sampled),
        "statuses": dict(Counter(c["status"] for c in sampled)),
        "errors": dict(Counter(_error_kind(c["error"]) for c in sampled if c["status"] != "ok").most_common(5)),
        "candidates": [{k: c[k] for k in ("id", "origin", "status", "score", "records", "repairs", "error")}
                       for c in summary["candidates"]],
        "load_before": round(load_before, 2), "load_after": round(_load(), 2), "error": error,
    }


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def print_table(rows: list[dict[str, Any]], expert: dict[str, Any] | None, args: argparse.Namespace) -> None:
    head = (f"{'mode':<7}{'N':>3}{'exec':>6}{'exec%':>7}{'DVS@N':>8}{'best-N':>8}{'search':>8}{'gain':>8}"
            f"{'tried':>6}{'wall s':>8}{'draft s':>8}{'chef tok':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['mode']:<7}{r['n']:>3}{r['executable']:>6}{r['executability']:>7.0%}{_f(r['dvs_avg']):>8}"
              f"{_f(r['best_of_n']):>8}{_f(r['best_after_search']):>8}{r['search_gain']:>+8.3f}"
              f"{r['search_tried']:>6}{r['wall_s']:>8.0f}{r['draft_s']:>8.0f}{r['chef_tokens']:>10}")
    if expert:
        print(f"{'expert':<7}{'':>3}{'':>6}{'':>7}{'':>8}{_f(expert['score']):>8}{'':>8}{'':>8}{'':>6}"
              f"{expert['run_s'] + expert['verify_s']:>8.0f}")
    print()
    for r in rows:
        print(f"{r['mode']}: sampled statuses {r['statuses']}, repairs {r['repairs']}, "
              f"chef tokens in/out {r['chef_usage']['prompt_tokens']}/{r['chef_usage']['completion_tokens']}, "
              f"execute+verify {r['execute_verify_s']:.0f}s, load avg {r['load_before']} -> {r['load_after']}")
        for kind, count in r["errors"].items():
            print(f"    {count} x {kind}")
        if r["error"]:
            print(f"    cook: {r['error'][:160]}")
    if expert:
        print(f"expert recipe: {expert['records']} records, verifier score {expert['score']:.3f} "
              f"(grades {expert['grades']}), run {expert['run_s']:.0f}s, verify {expert['verify_s']:.0f}s")
    print(f"settings: n={args.n}, search budget={args.search_budget}, sample={args.sample}, "
          f"chef max_tokens={args.max_tokens}, max_repairs={args.max_repairs}, temperature={args.temperature}, "
          f"seed={args.seed}, torch threads={args.threads_used}, cores={len(os.sched_getaffinity(0))}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8, help="recipes the chef samples per mode (default 8)")
    p.add_argument("--search-budget", type=int, default=4, help="refinement executions per mode (default 4)")
    p.add_argument("--sample", type=int, default=50, help="instances the verifier grades per recipe (default 50)")
    p.add_argument("--modes", default="typed,python", help="comma-separated recipe forms (typed, python)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the cores allowed)")
    p.add_argument("--max-tokens", type=int, default=ChefConfig.max_tokens, help="chef answer budget (default %(default)s)")
    p.add_argument("--max-repairs", type=int, default=ChefConfig.max_repairs, help="repair rounds (default %(default)s)")
    p.add_argument("--temperature", type=float, default=ChefConfig.temperature, help="chef sampling temperature")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-expert", action="store_true", help="skip the expert reference")
    p.add_argument("--out", type=Path, default=None, help="keep kitchen, candidates and reports here (default: a "
                                                          "temporary folder, removed)")
    p.add_argument("--json", type=Path, default=None, help="save all figures to this file")
    p.add_argument("--verbose", "-v", action="store_true", help="print cook's progress to stderr")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        p.error(f"--modes: choose from {', '.join(MODES)}")
    if args.n < 1 or args.sample < 1 or args.search_budget < 0:
        p.error("--n and --sample must be >= 1, --search-budget >= 0")

    out = args.out or Path(tempfile.mkdtemp(prefix="datachef-cook-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        import torch

        from datachef.io import load_task
        from datachef.kitchens import prepare_kitchen
        from datachef.llm import make_client

        load_start = _load()
        task_path = prepare_kitchen("gsm8k", out / "kitchen")
        task = load_task(task_path)
        t0 = time.perf_counter()
        llm = make_client("local", cache_dir=False, num_threads=args.threads)
        load_s = time.perf_counter() - t0
        args.threads_used = torch.get_num_threads()
        print(f"model {llm.model} ({llm.dtype}) loaded in {load_s:.1f}s; load avg {load_start:.2f}", flush=True)

        expert = None if args.no_expert else run_expert(task, task_path.parent, out, llm, args.sample, args.seed)
        rows = [run_mode(m, task, llm, out, args) for m in modes]
        print()
        print_table(rows, expert, args)
        result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                  "model": llm.model, "dtype": str(llm.dtype), "model_load_s": round(load_s, 1),
                  "cores": len(os.sched_getaffinity(0)), "load_start": round(load_start, 2),
                  "load_end": round(_load(), 2), "modes": rows, "expert": expert}
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
            print(f"figures saved to {args.json}")
        return result
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
