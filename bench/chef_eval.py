"""The untrained embedded model as a chef on the pool's six held-out tasks (the paper's Table 1 protocol), beside the
random valid-recipe baseline and the expert recipes: the table a trained chef (the RL issue) must beat. (Since the
RL issue the default chef is the trained one; bench/rl.py measures it.)

    .venv/bin/python bench/chef_eval.py                      # N = 8, 100 judged instances per recipe
    .venv/bin/python bench/chef_eval.py --n 4 --sample 50    # quicker

Runs `datachef chef-eval` twice over one prepared pool (OUT/pool): with `--chef local --model smollm2 --mode
typed` (the untrained SmolLM2-135M-Instruct under constrained decoding, typed recipes) and with `--chef random`;
both resumable. Prints both tables, then a combined one (per task: executability and DVS_avg@N of each chef,
best-of-N, the expert recipe), and the wall times.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def _chef_eval(out: Path, chef: str, args: argparse.Namespace) -> tuple[dict, float]:
    t0 = time.time()
    cmd = [sys.executable, "-m", "datachef.cli", "chef-eval", "--chef", chef, "--split", "heldout",
           *(["--model", "smollm2", "--mode", "typed"] if chef == "local" else []),
           "--pool", str(args.out / "pool"), "--out", str(out), "--n", str(args.n), "--sample", str(args.sample),
           "--seed", str(args.seed), "--threads", str(args.threads)] + (["--no-expert"] if chef == "random" else [])
    subprocess.run(cmd, check=True)
    return json.loads((out / "chef_eval.json").read_text()), time.time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench-chef-eval"))
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--sample", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    local, t_local = _chef_eval(args.out / "local", "local", args)
    rand, t_rand = _chef_eval(args.out / "random", "random", args)
    f = lambda x: "–" if x is None else f"{100 * x:.1f}"  # noqa: E731
    n = args.n
    print(f"\n| task | split | embedded chef: exec. | DVS_avg@{n} | best-of-{n} | random valid recipe: exec. | "
          f"DVS_avg@{n} | best-of-{n} | expert recipe |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for a, b in zip(local["tasks"], rand["tasks"]):
        print(f"| {a['task']} | {a['split']} | {f(a['executability'])} | {f(a['dvs_avg'])} | {f(a['best_of_n'])} | "
              f"{f(b['executability'])} | {f(b['dvs_avg'])} | {f(b['best_of_n'])} | {f(a['expert'])} |")
    for label in local["averages"]:
        a, b = local["averages"][label], rand["averages"][label]
        print(f"| **{label} average** | | {f(a['executability'])} | **{f(a['dvs_avg'])}** | {f(a['best_of_n'])} | "
              f"{f(b['executability'])} | **{f(b['dvs_avg'])}** | {f(b['best_of_n'])} | {f(a['expert'])} |")
    print(f"\nwall time: embedded chef {t_local / 60:.1f} min, random baseline {t_rand / 60:.1f} min "
          "(the expert rows are computed in the first)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
