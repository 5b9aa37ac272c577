"""Can a chef game the reward on the task pool? Every source of every pool task, taken alone and rendered as the
task's expert renders its data (no cleaning), is scored as a corpus by the local verifier. A policy under RL learns
whatever the reward pays for, so each flawed copy of a task's in-domain source (wrong answers, blank answers,
duplicates, planted held-out items) must score below the in-domain source itself, and near-domain, off-task and
other-language sources should too. The table lists, per task, each source's composite and paper-style reward, and
the sources that score at least as high as the in-domain one: each such row is a way to earn reward without
making good data.

    .venv/bin/python bench/reward_audit.py [--pool DIR] [--out DIR] [--sample 100] [--tasks a,b,...]
                                           [--kinds in-domain,wrong-answers] [--no-solvers]

The pool is prepared into OUT/pool unless --pool names a prepared one (`datachef pool prepare --all --out DIR`).
Recipe per (task, source): load the source, the expert's `to_chat` (the first whose template fields the source's
rows have; sources in another row format are listed as skipped), sample the task's budget, shuffle. Resumable:
each (task, source) result is saved in OUT/<task>/<source>/result.json.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from datachef.io import load_recipe, load_task, write_json_atomic
from datachef.pool import all_tasks, prepare_tasks
from datachef.spec import Recipe
from datachef.verifier import Verifier, VerifierConfig
from datachef.verifier.scoring import score_recipe

FLAWED = ("wrong-answers", "blank-answers", "duplicates", "planted-heldout")
KINDS = ("in-domain", *FLAWED, "near-domain", "off-task", "other-language")


def first_row(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                return json.loads(line)
    return {}


def fields_of(template: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", template))


def solo_recipe(task_dir: Path, source: str, budget: int) -> Recipe | None:
    """`source` alone through the expert's rendering, or None when no `to_chat` of the expert fits its rows."""
    expert = load_recipe(task_dir / "expert_recipe.yaml")
    row = first_row(task_dir / "sources" / f"{source}.jsonl")
    for step in expert.steps:
        if step.op != "to_chat":
            continue
        args = dict(step.args)
        wanted = set().union(*(fields_of(str(v)) for k, v in args.items() if k in ("user", "assistant", "system")))
        if wanted <= set(row):
            return Recipe.model_validate({
                "name": f"{task_dir.name}-{source}-alone", "task": expert.task,
                "plan": {"training_data": [{"source": source, "sample": budget,
                                            "reason": "Audit: this source alone, not cleaned."}],
                         "workflow": "Load the source, render it as the expert does, sample the budget."},
                "steps": [{"id": "rows", "op": "load", "args": {"source": source}},
                          {"id": "chats", "op": "to_chat", "input": "rows", "args": args},
                          {"id": "budget", "op": "sample", "input": "chats", "args": {"n": budget, "seed": 0}},
                          {"id": "corpus", "op": "shuffle", "input": "budget", "args": {"seed": 0}}],
                "output": "corpus"})
    return None


def audit_task(task_dir: Path, out: Path, judge: Any, sample: int, *, kinds: set[str],
               config: VerifierConfig) -> list[dict[str, Any]]:
    meta = json.loads((task_dir / "pool.json").read_text(encoding="utf-8"))
    task = load_task(task_dir / "task.yaml")
    budget = task.budget.train_samples
    verifier = None
    rows = []
    for s in meta["sources"]:
        if s["kind"] not in kinds:
            continue
        folder = out / task_dir.name / s["id"]
        saved = folder / "result.json"
        if saved.exists():
            rows.append(json.loads(saved.read_text(encoding="utf-8")))
            continue
        recipe = solo_recipe(task_dir, s["id"], budget)
        row: dict[str, Any] = {"task": task_dir.name, "split": meta.get("split"), "source": s["id"],
                               "kind": s["kind"]}
        if recipe is None:
            row.update(status="skipped", error="another row format than the expert's rendering")
        else:
            if verifier is None:
                verifier = Verifier(task, judge=judge, config=config)
            row.update(score_recipe(recipe, task, folder, verifier, sample=sample, seed=0))
            if row["status"] == "ok":
                verify = json.loads((folder / "run" / "verify.json").read_text(encoding="utf-8"))
                row["parts"] = {k: v for k, v in verify.get("reward", {}).items() if isinstance(v, (int, float))}
                row["grades"] = verify.get("grades")
        write_json_atomic(saved, row)
        rows.append(row)
        print(f"{task_dir.name:24} {s['id']:34} {s['kind']:16} {row.get('status'):8} "
              f"composite {row.get('score', 0.0):.3f} paper {row.get('paper') or 0.0:.3f} "
              f"({row.get('seconds', 0)} s)", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/bench-reward-audit"))
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--tasks", default="", help="comma-separated pool task names (default: all 30)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated source kinds to score")
    ap.add_argument("--no-solvers", action="store_true",
                    help="the verifier without its solver checker (verifier/solvers.py), to see what it closes")
    args = ap.parse_args(argv)
    kinds = {k for k in args.kinds.split(",") if k}
    config = VerifierConfig(reward="composite", solver_check=not args.no_solvers)

    t0 = time.time()
    names = [n for n in args.tasks.split(",") if n] or [t.name for t in all_tasks()]
    pool = args.pool
    if pool is None:
        pool = args.out / "pool"
        prepare_tasks([t for t in all_tasks() if t.name in names], pool)
    from datachef.llm import make_client

    judge = make_client("local")
    rows = [r for name in names for r in audit_task(pool / name, args.out, judge, args.sample, kinds=kinds,
                                                    config=config)]
    write_json_atomic(args.out / "audit.json", {"sample": args.sample, "rows": rows})

    f = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    print("\n| task | source | kind | records | composite | paper-style | ≥ in-domain (composite / paper) |")
    print("|---|---|---|---:|---:|---:|---|")
    by_task: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["kind"] == "in-domain":
            by_task[r["task"]] = r
    for r in rows:
        if r.get("status") != "ok":
            print(f"| {r['task']} | {r['source']} | {r['kind']} | – | – | – | {r.get('status')} |")
            continue
        ref = by_task.get(r["task"])
        flag = ""
        if ref is not None and r is not ref and ref.get("status") == "ok":
            flag = " / ".join("**yes**" if (r.get(k) or 0.0) >= (ref.get(k) or 0.0) else "no"
                              for k in ("score", "paper"))
        print(f"| {r['task']} | {r['source']} | {r['kind']} | {r['records']} | {f(r['score'])} | {f(r['paper'])} | "
              f"{flag} |")

    print("\n| kind | sources scored | mean composite | mean paper-style | below in-domain: composite | paper-style |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in KINDS:
        scored = [r for r in rows if r["kind"] == kind and r.get("status") == "ok"]
        if not scored:
            continue
        pairs = [(r, by_task[r["task"]]) for r in scored if kind != "in-domain" and r["task"] in by_task
                 and by_task[r["task"]].get("status") == "ok"]
        below = {k: sum((r.get(k) or 0.0) < (ref.get(k) or 0.0) for r, ref in pairs) for k in ("score", "paper")}
        mean = {k: sum((r.get(k) or 0.0) for r in scored) / len(scored) for k in ("score", "paper")}
        b = (lambda k: f"{below[k]} of {len(pairs)}") if pairs else (lambda k: "–")
        print(f"| {kind} | {len(scored)} | {mean['score']:.3f} | {mean['paper']:.3f} | {b('score')} | {b('paper')} |")
    print(f"\nwall time {(time.time() - t0) / 60:.1f} min, {len(rows)} sources, sample {args.sample}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
