"""The proxy–downstream correlation study (`datachef correlate`) on the `arithmetic` kitchen, sized for a 2-core CPU.

    .venv/bin/python bench/correlate.py                         # 13 corpora of 250 records, 200 eval items (~65 min)
    .venv/bin/python bench/correlate.py --budget 150 --eval-limit 100 --out /tmp/corr   # quicker
    .venv/bin/python bench/correlate.py --kitchen gsm8k          # another kitchen

Prepares the kitchen, then runs `datachef.adapt.correlate.run_correlation`: one single-source corpus per source
(every source by default: k = sources + 2), the shortest and longest `budget` records of their union, and the
kitchen's expert recipe sampled to the budget (`--no-expert` leaves it out); each corpus is scored by the local
verifier (embedded SmolLM2 label judge + embeddings + checkers), the embedded SmolLM2-135M-Instruct is LoRA-trained
on it (1 epoch, short sequences) and evaluated on held-out benchmark items (accuracy and gold-answer NLL). Prints the
per-corpus table, Pearson/Spearman of each proxy against each downstream score, and the wall time per stage.

The study folder (default runs/bench-correlate) is resumable: re-running continues where a killed run stopped and
only redoes stages whose settings changed; `--fresh` starts over.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kitchen", default="arithmetic", help="Built-in kitchen (default arithmetic).")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-correlate"), help="Study folder (resumable).")
    ap.add_argument("--k", type=int, default=None, help="Single-source + length corpora (default: every source "
                                                        "+ 2).")
    ap.add_argument("--budget", type=int, default=250, help="Records per corpus.")
    ap.add_argument("--eval-limit", type=int, default=200, help="Held-out benchmark items per model.")
    ap.add_argument("--max-new-tokens", type=int, default=32, help="Generation budget per item.")
    ap.add_argument("--sample", type=int, default=100, help="Instances the verifier grades per corpus.")
    ap.add_argument("--epochs", type=float, default=1.0, help="Training epochs.")
    ap.add_argument("--lr", type=float, default=2e-4, help="Learning rate (LoRA).")
    ap.add_argument("--max-seq-len", type=int, default=128, help="Truncate longer training records.")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0 = auto: all cores on an idle machine "
                                                           "(2 threads trained 1.4x faster than 1), 1 when other jobs "
                                                           "load it (there 2 threads made generation 4x slower).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-expert", action="store_true", help="Leave the kitchen's expert recipe out.")
    ap.add_argument("--fresh", action="store_true", help="Delete the study folder first.")
    ap.add_argument("--json", type=Path, default=None, help="Also write the summary figures here.")
    args = ap.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from datachef.cli import set_torch_threads

    set_torch_threads(args.threads)
    import torch

    from datachef.adapt.correlate import CorrelateConfig, render_table, run_correlation
    from datachef.errors import DatachefError
    from datachef.io import load_task
    from datachef.kitchens import prepare_kitchen

    if args.fresh:
        shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.time()
    load_before = os.getloadavg()[0]
    try:
        task_path = prepare_kitchen(args.kitchen, args.out / "kitchen", seed=args.seed)
        task = load_task(task_path)
        k = args.k or len(task.sources) + 2
        recipes = [] if args.no_expert else [str(task_path.parent / "expert_recipe.yaml")]
        config = CorrelateConfig(
            k=k, budget=args.budget, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens,
            sample=args.sample, seed=args.seed, recipes=recipes, cache_dir=str(args.out / "step-cache"),
            train={"epochs": args.epochs, "lr": args.lr, "max_seq_len": args.max_seq_len, "save_steps": 10,
                   "logging_steps": 5})
        stamp = time.time()

        def log(msg: str) -> None:
            print(f"[{time.time() - stamp:7.1f}s] {msg}", file=sys.stderr, flush=True)

        result = run_correlation(task, args.out / "study", config, log=log)
    except DatachefError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wall = time.time() - t0

    print(f"\n## Correlation study: {args.kitchen} kitchen, {len(result.rows)} corpora of {args.budget} records, "
          f"{args.eval_limit} held-out items, {torch.get_num_threads()} torch threads\n")
    print(render_table(result))
    t = result.timings
    stages = ["build", "verify", "proxies", "base_eval", "train", "eval"]
    print("| stage | seconds (recorded, all corpora) |\n|---|---:|")
    for s in stages:
        print(f"| {s} | {t.get(s, 0.0):.0f} |")
    print(f"| **sum of stages** | **{sum(t.get(s, 0.0) for s in stages):.0f}** |")
    print(f"\nwall time of this invocation: {wall:.0f} s ({wall / 60:.1f} min); load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after (cores: {os.cpu_count()})")
    print(f"outputs: {args.out / 'study'} (correlation.json, table.md, table.csv, scatter.png)")
    if args.json:
        args.json.write_text(json.dumps({"kitchen": args.kitchen, "budget": args.budget, "k": len(result.rows),
                                         "summary": result.summary, "correlations": result.correlations,
                                         "timings": t, "wall_s": round(wall, 1)}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
