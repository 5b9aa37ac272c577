"""The RL held-out table (issue 12): chefs judged by `chef-eval` on the pool's six held-out tasks (3 in-domain, 3 out
of domain), each writing N compact recipes per task, unconstrained unless a row says so.

    .venv/bin/python bench/rl.py --row "cold start=runs/rl-sft/final" --row "cold start + GRPO=runs/rl-grpo/final"
    .venv/bin/python bench/rl.py --n 8 --sample 30 --out runs/bench-rl \\
        --row "base SmolLM2=base" --row "base, constrained=base:constrained" \\
        --row "cold start=runs/rl-sft/final" --row "cold start + GRPO=runs/rl-grpo/final" \\
        --row "GRPO, no cold start=runs/rl-grpo-nocs/final" --row "sparse reward=runs/rl-grpo-sparse/final"

A row is NAME=MODEL[:constrained]: MODEL is a policy folder (`rl sft`/`rl grpo` OUT/final), `base` (the untrained
SmolLM2-135M-Instruct) or `chef` (the embedded chef: that model with the packaged adapter); `:constrained` decodes
under the compact grammar (every answer a recipe) instead of freely. Each row runs `datachef chef-eval --mode
compact` into OUT/<row> (resumable: a killed run continues); the pool is prepared once in OUT/pool. Prints the table
(executability and DVS_avg@N per task, in-domain / out-of-domain / overall averages, x100) and writes it to
OUT/table.md.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _chef_eval(name: str, spec: str, args: argparse.Namespace) -> tuple[dict, float]:
    model, _, mode = spec.partition(":")
    out = args.out / _slug(name)
    cmd = [sys.executable, "-m", "datachef.cli", "chef-eval", "--mode", "compact", "--split", "heldout",
           "--pool", str(args.out / "pool"), "--out", str(out), "--n", str(args.n), "--sample", str(args.sample),
           "--seed", str(args.seed), "--threads", str(args.threads), "--max-repairs", "0", "--temperature",
           str(args.temperature), "--executor", args.executor, "--no-expert", "-q"]
    cmd += ["--model", "smollm2" if model == "base" else model]
    cmd.append("--constrained" if mode == "constrained" else "--free")
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "chef_eval.json").read_text()), time.time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--row", action="append", required=True, help="NAME=MODEL[:constrained] (repeatable).")
    ap.add_argument("--out", type=Path, default=Path("runs/bench-rl"))
    ap.add_argument("--n", type=int, default=8, help="Recipes per task (the issue: 8).")
    ap.add_argument("--sample", type=int, default=30, help="Instances the verifier judges per recipe.")
    ap.add_argument("--temperature", type=float, default=1.0, help="Sampling temperature (as the RL rollouts).")
    ap.add_argument("--executor", default="ray", choices=("local", "ray"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    rows = []
    for spec in args.row:
        name, sep, model = spec.partition("=")
        if not sep:
            ap.error(f"--row {spec!r}: expected NAME=MODEL[:constrained]")
        summary, seconds = _chef_eval(name, model, args)
        rows.append((name, summary, seconds))
        print(f"{name}: {seconds / 60:.1f} min", file=sys.stderr)

    f = lambda x: "–" if x is None else f"{100 * x:.1f}"  # noqa: E731
    tasks = [(t["task"], t["split"]) for t in rows[0][1]["tasks"]]
    labels = list(rows[0][1]["averages"])
    n = args.n
    head = ("| chef | " + " | ".join(f"{t} ({'ID' if s == 'heldout-id' else 'OOD'})" for t, s in tasks)
            + " | " + " | ".join(labels) + " | executability |")
    lines = [f"DVS_avg@{n} x100 per held-out task ({args.sample} instances judged per recipe, temperature "
             f"{args.temperature}; a recipe that is not valid or fails counts 0)", "", head,
             "|---|" + "---:|" * (len(tasks) + len(labels) + 1)]
    for name, s, _ in rows:
        by_task = {t["task"]: t for t in s["tasks"]}
        cells = [f"{f(by_task[t]['dvs_avg'])} ({f(by_task[t]['executability'])}%)" for t, _ in tasks]
        avgs = [f(s["averages"][label]["dvs_avg"]) for label in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(avgs) +
                     f" | {f(s['averages'][labels[-1]]['executability'])}% |")
    lines += ["", "Per task: DVS_avg@N (executability %). Wall time per row: "
              + ", ".join(f"{name} {sec / 60:.1f} min" for name, _, sec in rows)]
    text = "\n".join(lines)
    print(text)
    (args.out / "table.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
