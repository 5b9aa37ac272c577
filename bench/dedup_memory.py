"""Memory and quality benchmark of the `dedup_near` operator (MinHash LSH).

For each corpus size it writes synthetic documents with planted near-duplicates to a temporary JSONL file, then runs
the op alone in a fresh subprocess (so peak RSS belongs to that size only) and prints throughput, peak RSS and
recall/precision on the planted pairs. Bounded memory shows as a peak RSS that barely moves while N quadruples.

    python bench/dedup_memory.py                 # sizes 50k, 100k, 200k
    python bench/dedup_memory.py --n 400000      # sizes 100k, 200k, 400k
    python bench/dedup_memory.py --sizes 1000,5000 --edit-rate 0.01

Documents: 50-400 words drawn from a Zipf vocabulary of 30k words; a fraction `--dup-rate` of them are copies of an
earlier original with `--edit-rate` of their words replaced at random positions. For every planted copy the true
word-5-gram Jaccard with its original is recorded, so recall is reported both over all planted copies and over
those whose true Jaccard is at least the threshold (the ones the op is asked to find).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

VOCAB = 30_000


WORDS = np.array([f"w{k}" for k in range(VOCAB)], dtype=object)


def _original_words(seed: int, j: int, zipf_cdf: np.ndarray) -> list[str]:
    """Original document j, regenerated from its own seed (so copies need no stored originals)."""
    rng = np.random.default_rng([seed, j])
    length = int(rng.integers(50, 401))
    return WORDS[np.searchsorted(zipf_cdf, rng.random(length), side="right")].tolist()


def _shingles(words: list[str], n: int) -> set[tuple[str, ...]]:
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def generate(path: Path, n_docs: int, *, seed: int, dup_rate: float, edit_rate: float, ngram: int) -> dict:
    """Write `n_docs` rows {id, text, dup_of, jaccard} to `path`; return counts."""
    zipf_cdf = np.cumsum(1.0 / np.arange(1, VOCAB + 1) ** 1.05)
    zipf_cdf = np.minimum(zipf_cdf / zipf_cdf[-1], 1.0)
    rng = np.random.default_rng([seed, 10**9])
    originals: list[int] = []  # ids of originals (copies pick one of them)
    planted = 0
    with open(path, "wb") as f:
        for i in range(n_docs):
            if originals and rng.random() < dup_rate:
                j = originals[int(rng.integers(len(originals)))]
                base = _original_words(seed, j, zipf_cdf)
                words = list(base)
                n_edit = max(1, round(edit_rate * len(words)))
                for pos in rng.choice(len(words), size=n_edit, replace=False):
                    words[int(pos)] = f"edit{int(rng.integers(10**9))}"
                a, b = _shingles(base, ngram), _shingles(words, ngram)
                row = {"id": i, "text": " ".join(words), "dup_of": j, "jaccard": len(a & b) / len(a | b)}
                planted += 1
            else:
                row = {"id": i, "text": " ".join(_original_words(seed, i, zipf_cdf)), "dup_of": -1, "jaccard": 0.0}
                originals.append(i)
            f.write(orjson.dumps(row) + b"\n")
    return {"docs": n_docs, "planted": planted}


def child(path: Path, n_docs: int, args: argparse.Namespace) -> None:
    """Run dedup_near alone over the JSONL file and print one JSON line of measurements."""
    from datachef.ops.base import Emitter, OpContext, RowStream
    from datachef.ops.dedup_near import DedupNear, DedupNearParams

    def rows():
        with open(path, "rb") as f:
            for line in f:
                yield orjson.loads(line)

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = DedupNearParams(fields=["text"], threshold=args.threshold, num_perm=args.num_perm, ngram=args.ngram,
                             verify=not args.no_verify)
    with tempfile.TemporaryDirectory() as work:
        op = DedupNear(params, OpContext(workdir=Path(work)), "bench")
        op.bind([{"id": "int", "text": "str", "dup_of": "int", "jaccard": "float"}])
        problems = op.check()
        if problems:
            raise SystemExit(f"bad params: {problems}")
        op.setup()
        c = {"kept": 0, "dropped": 0, "dropped_planted": 0, "planted": 0, "planted_above": 0,
             "dropped_planted_above": 0}

        def count(row, dropped: bool) -> None:
            is_copy = row["dup_of"] >= 0
            above = is_copy and row["jaccard"] >= args.threshold
            c["planted"] += is_copy
            c["planted_above"] += above
            if dropped:
                c["dropped"] += 1
                c["dropped_planted"] += is_copy
                c["dropped_planted_above"] += above
            else:
                c["kept"] += 1

        t0 = time.perf_counter()
        op.run([RowStream(rows, n_docs, "bench")], Emitter(lambda r: count(r, False), lambda r, why: count(r, True)))
        elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "n": n_docs, "seconds": round(elapsed, 2), "rows_per_s": round(n_docs / elapsed),
        "peak_rss_mb": round(peak, 1), "baseline_rss_mb": round(base_rss, 1), "bands": op.b, "rows": op.r,
        "recall_above_threshold": c["dropped_planted_above"] / max(1, c["planted_above"]),
        "recall_all_planted": c["dropped_planted"] / max(1, c["planted"]),
        "precision": c["dropped_planted"] / max(1, c["dropped"]),
        "planted": c["planted"], "planted_above": c["planted_above"], "dropped": c["dropped"],
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="largest corpus size (default sizes: n/4, n/2, n)")
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated sizes, overriding --n")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--dup-rate", type=float, default=0.1, help="fraction of rows that are planted copies")
    ap.add_argument("--edit-rate", type=float, default=0.01, help="fraction of a copy's words replaced")
    ap.add_argument("--no-verify", action="store_true", help="skip the signature check of candidate pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-n", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(Path(args.child), args.child_n, args)
        return

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.n // 4, args.n // 2, args.n]
    passthrough = ["--threshold", str(args.threshold), "--num-perm", str(args.num_perm), "--ngram", str(args.ngram)]
    if args.no_verify:
        passthrough.append("--no-verify")
    print(f"dedup_near: threshold={args.threshold} num_perm={args.num_perm} ngram={args.ngram} "
          f"dup_rate={args.dup_rate} edit_rate={args.edit_rate} verify={not args.no_verify}")
    header = (f"{'N':>9} {'gen s':>6} {'run s':>7} {'rows/s':>8} {'peak RSS MB':>11} {'base MB':>8} {'b x r':>6} "
              f"{'recall(J>=t)':>12} {'recall(all)':>11} {'precision':>9}")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"docs_{n}.jsonl"
            t0 = time.perf_counter()
            generate(path, n, seed=args.seed, dup_rate=args.dup_rate, edit_rate=args.edit_rate, ngram=args.ngram)
            gen_s = time.perf_counter() - t0
            env = dict(os.environ)
            src = str(Path(__file__).resolve().parent.parent / "src")
            env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
            res = subprocess.run([sys.executable, __file__, "--child", str(path), "--child-n", str(n), *passthrough],
                                 capture_output=True, text=True, env=env)
            if res.returncode != 0:
                raise SystemExit(f"child for N={n} failed:\n{res.stderr}")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{n:>9} {gen_s:>6.1f} {r['seconds']:>7.1f} {r['rows_per_s']:>8} {r['peak_rss_mb']:>11.1f} "
                  f"{r['baseline_rss_mb']:>8.1f} {str(r['bands']) + 'x' + str(r['rows']):>6} "
                  f"{r['recall_above_threshold']:>12.3f} {r['recall_all_planted']:>11.3f} {r['precision']:>9.3f}",
                  flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
