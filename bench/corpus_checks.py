"""Speed and peak memory of the verifier's whole-corpus checks (exact copies, MinHash near copies, held-out leaks on
every record) on a large corpus, against the gsm8k kitchen's benchmark (1,319 GSM8K test items).

    .venv/bin/python bench/corpus_checks.py                  # 100,000 records
    .venv/bin/python bench/corpus_checks.py --n 20000 --json out.json

Generates N chat records (GSM-style word problems, ~60-word questions and ~60-word worked answers) with planted
exact copies (2%), near copies (2%: two words changed) and held-out benchmark items (0.1%), then runs
`Verifier.check_corpus` in a child process (so generating the data does not count towards its peak RSS) and prints
records/s, peak RSS next to the RSS after setup (benchmark index, imports), and what it found vs what was planted.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
from datachef.io import load_task
from datachef.verifier import Verifier

def peak_kib():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec, VmHWM starts afresh.
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))

task_path, data = sys.argv[1], sys.argv[2]
v = Verifier(load_task(task_path), judge="local")  # the judge model is never loaded: checks need none
setup_rss = peak_kib()
t = time.perf_counter()
scan = v.check_corpus(Path(data))
secs = time.perf_counter() - t
print(json.dumps({"seconds": secs, "setup_rss_kib": setup_rss, "peak_rss_kib": peak_kib(),
                  "records": scan.good, "leaks": len(scan.leaks), "duplicates": len(scan.duplicate_of),
                  "near_duplicates": len(scan.near_duplicate_of)}))
"""

NAMES = ["Ava", "Ben", "Cleo", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade"]
THINGS = ["apples", "pencils", "marbles", "stamps", "cookies", "books", "shells", "coins", "cards", "plants"]
PLACES = ["market", "school fair", "library sale", "garden centre", "toy shop", "bakery"]


def problem(rng: random.Random) -> tuple[str, str]:
    n, t, p = rng.choice(NAMES), rng.choice(THINGS), rng.choice(PLACES)
    a, b, c, d = (rng.randint(2, 99) for _ in range(4))
    q = (f"{n} collects {t} and already owns {a} of them. On Saturday {n} visits the {p} and buys {b} more {t}, "
         f"then trades {c} {t} with a friend for {d} new ones. Later {n} splits the collection into two boxes of "
         f"equal size as far as possible, keeping any extra one aside. How many {t} does {n} own after the trade, "
         f"and how many go into each box? Give the total count of {t} as the final answer.")
    total = a + b - c + d
    s = (f"{n} starts with {a} {t} and buys {b} more, which makes {a} + {b} = {a + b} {t}. Trading away {c} leaves "
         f"{a + b} - {c} = {a + b - c}, and the {d} new ones bring the count to {a + b - c} + {d} = {total}. Split "
         f"into two boxes that is {total // 2} per box with {total % 2} left aside.\n#### {total}")
    return q, s


def generate(path: Path, n: int, held_out: list[dict], seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    records: list[dict] = []
    planted = {"exact": 0, "near": 0, "leaks": 0}
    for i in range(n):
        r = rng.random()
        if records and r < 0.02:
            records.append(json.loads(json.dumps(rng.choice(records))))
            planted["exact"] += 1
            continue
        if records and r < 0.04:
            base = json.loads(json.dumps(rng.choice(records)))
            words = base["messages"][0]["content"].split()
            for k in rng.sample(range(len(words)), 2):
                words[k] = rng.choice(["quickly", "also", "then", "still"])
            base["messages"][0]["content"] = " ".join(words)
            records.append(base)
            planted["near"] += 1
            continue
        if r < 0.041:
            item = rng.choice(held_out)
            q, s = " ".join(item["question"].split()), item["answer"]
            planted["leaks"] += 1
        else:
            q, s = problem(rng)
        records.append({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": s}],
                        "meta": {"source": "synthetic", "row": i, "ops": []}})
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    return planted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from datachef.io import load_task
    from datachef.kitchens import prepare_kitchen
    from datachef.sources import load_benchmark

    with tempfile.TemporaryDirectory(prefix="corpus-checks-") as tmp:
        kitchen = prepare_kitchen("gsm8k", Path(tmp) / "kitchen")
        _, held_out = load_benchmark(load_task(kitchen))
        data = Path(tmp) / "data.jsonl"
        t = time.perf_counter()
        planted = generate(data, args.n, held_out, args.seed)
        size = data.stat().st_size / 2**20
        print(f"generated {args.n} records ({size:.1f} MiB) in {time.perf_counter() - t:.1f}s; planted {planted}",
              file=sys.stderr)
        load = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, "-c", CHILD, str(kitchen), str(data)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"whole-corpus checks on {r['records']:,} records ({size:.1f} MiB): {r['seconds']:.1f}s = "
          f"{r['records'] / r['seconds']:,.0f} records/s; peak RSS {r['peak_rss_kib'] / 1024:.0f} MiB "
          f"({r['setup_rss_kib'] / 1024:.0f} MiB after setup: imports and the benchmark index); load average "
          f"{load:.1f} before")
    print(f"found: {r['duplicates']} exact copies (planted {planted['exact']}), {r['near_duplicates']} near copies "
          f"(planted {planted['near']}), {r['leaks']} held-out leaks (planted {planted['leaks']})")
    if args.json:
        args.json.write_text(json.dumps({**r, "n": args.n, "mib": size, "planted": planted}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
