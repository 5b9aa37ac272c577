"""How well does the Data Verifier rank corpora of known quality?

From the gsm8k kitchen, build corpora whose quality is known by construction (clean, 25/50/100% wrong final answers,
off-task MMLU chats, bare arithmetic drills, truncated solutions, duplicated, contaminated with benchmark items, not
chat at all, empty), each in the real record format. Every record has an intended rubric grade, so each corpus has
an expected reward (the mean rubric score of its records, or −λ_empty / −λ_format). Verify each corpus with the local
verifier (SmolLM2-135M label scores + embeddings + checkers), and with a remote judge when --base-url/--model are
given; print per-corpus scores, per-instance grade agreement, Spearman's ρ with the expected order, and throughput
(judged instances/s, uncached then cached).

    python bench/verifier_quality.py [--out DIR] [--records 150] [--sample 100] [--seed 0]
                                     [--base-url http://127.0.0.1:8000/v1 --model NAME]
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr

from datachef.io import load_task
from datachef.kitchens import prepare_kitchen
from datachef.kitchens.gsm8k.build import GsmItem, corrupt_solution, truncate_solution
from datachef.sources import load_benchmark
from datachef.verifier import Grade, Verifier, VerifierConfig

Record = dict[str, Any]
P, TM, INC, INV = Grade.PASS.value, Grade.TASK_MISMATCH.value, Grade.INCORRECT.value, Grade.INVALID.value


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def chat(user: str, assistant: str, source: str, row: int) -> Record:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
            "meta": {"source": source, "row": row, "ops": ["bench"]}}


def build_corpora(kitchen: Path, n: int, seed: int) -> dict[str, tuple[list[Record] | None, list[str] | str]]:
    """name -> (records, intended grade per record) or (None / raw rows, 'empty' | 'format')."""
    rng = random.Random(seed)
    src = kitchen / "sources"
    gold = read_jsonl(src / "gsm_symbolic_cot.jsonl")
    order = list(range(len(gold)))
    rng.shuffle(order)
    slices = iter(order[i:i + n] for i in range(0, len(order), n))  # a fresh disjoint slice per corpus

    def gold_chats(rows: list[int]) -> list[Record]:
        return [chat(gold[i]["question"], gold[i]["solution"], "gsm_symbolic_cot", i) for i in rows]

    corpora: dict[str, tuple[Any, Any]] = {}
    corpora["clean"] = (gold_chats(next(slices)), [P] * n)
    for name, rate in (("wrong_25", 0.25), ("wrong_50", 0.5), ("wrong_100", 1.0)):
        rows = next(slices)
        wrong = set(rng.sample(range(n), round(n * rate)))
        recs, grades = [], []
        for j, i in enumerate(rows):
            g = gold[i]
            if j in wrong:
                solution, _ = corrupt_solution(GsmItem(g["question"], g["solution"], g["answer"]), rng)
                recs.append(chat(g["question"], solution, "gsm_symbolic_cot", i))
                grades.append(INC)
            else:
                recs.append(chat(g["question"], g["solution"], "gsm_symbolic_cot", i))
                grades.append(P)
        corpora[name] = (recs, grades)

    mmlu = read_jsonl(src / "mmlu_other.jsonl")
    recs = []
    for i in rng.sample(range(len(mmlu)), n):
        r = mmlu[i]
        options = "\n".join(f"{chr(65 + k)}. {c}" for k, c in enumerate(r["choices"]))
        letter = r["answer"]
        recs.append(chat(f"{r['question']}\n{options}",
                         f"The answer is {letter}. {r['choices'][ord(letter) - 65]}", "mmlu_other", i))
    corpora["off_task_mmlu"] = (recs, [TM] * n)

    arith = read_jsonl(src / "arithmetic.jsonl")
    recs = [chat(arith[i]["question"], f"The answer is {arith[i]['answer']}.\n#### {arith[i]['answer']}",
                 "arithmetic", i) for i in rng.sample(range(len(arith)), n)]
    corpora["bare_arithmetic"] = (recs, [TM] * n)

    recs = []
    for i in next(slices):
        recs.append(chat(gold[i]["question"], truncate_solution(gold[i]["solution"], rng), "gsm_symbolic_cot", i))
    corpora["truncated"] = (recs, [INC] * n)

    distinct = gold_chats(next(slices)[: max(1, n // 4)])
    recs = [r for r in distinct for _ in range(4)][:n]
    rng.shuffle(recs)
    seen: set[int] = set()
    grades = []
    for r in recs:  # the first copy of each record is fine, every later copy is Invalid
        grades.append(INV if r["meta"]["row"] in seen else P)
        seen.add(r["meta"]["row"])
    corpora["duplicated_x4"] = (recs, grades)

    task = load_task(kitchen / "task.yaml")
    _, held_out = load_benchmark(task)
    n_leak = round(n * 0.4)
    leaked = [chat(" ".join(b["question"].split()), re.sub(r"<<[^<>]*>>", "", b["answer"]), "web_mirror", k)
              for k, b in enumerate(rng.sample(held_out, n_leak))]
    recs = gold_chats(next(slices)[: n - n_leak]) + leaked
    grades = [P] * (n - n_leak) + [INV] * n_leak
    both = list(zip(recs, grades))
    rng.shuffle(both)
    corpora["contaminated_40"] = ([r for r, _ in both], [g for _, g in both])

    rows = next(slices)
    corpora["not_chat"] = ([{"question": gold[i]["question"], "answer": gold[i]["solution"]} for i in rows], "format")
    corpora["empty"] = (None, "empty")
    return corpora


def expected_score(grades: list[str] | str, config: VerifierConfig) -> float:
    if grades == "empty":
        return -config.lambda_empty
    if grades == "format":
        return -config.lambda_format
    return sum(config.score(g) for g in grades) / len(grades)


def write_corpus(folder: Path, records: list[Record] | None) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if records is not None:
        with open(folder / "data.jsonl", "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


def run_pass(label: str, verifier: Verifier, corpora: dict, folders: dict[str, Path], sample: int, seed: int,
             config: VerifierConfig) -> dict[str, Any]:
    scores, rows = {}, []
    judged = 0
    judge_s = 0.0
    agree = total = 0
    confusion: Counter = Counter()
    t0 = time.perf_counter()
    for name, (records, grades) in corpora.items():
        report = verifier.verify(folders[name], sample=sample, seed=seed)
        scores[name] = report.score
        judged += report.judged
        judge_s += report.timings.get("judge_s", 0.0)
        if isinstance(grades, list):
            for inst in report.instances:
                want = grades[inst.index]
                confusion[(want, inst.grade)] += 1
                agree += want == inst.grade
                total += 1
        hist = ", ".join(f"{g}:{c}" for g, c in report.grade_histogram.items() if c)
        # The expected score of the very instances the verifier drew (the corpus-level one orders the corpora).
        on_sample = (sum(config.score(grades[i.index]) for i in report.instances) / len(report.instances)
                     if isinstance(grades, list) and report.instances else expected_score(grades, config))
        rows.append((name, expected_score(grades, config), on_sample, report.score, report.timings.get("total_s", 0.0),
                     hist))
    wall = time.perf_counter() - t0
    print(f"\n== {label} ({verifier.mode} judge: {verifier._judge_info()['model']}) ==")
    print(f"{'corpus':18} {'expected':>8} {'(sample)':>8} {'score':>7} {'secs':>6}  grades")
    for name, exp, on_sample, got, secs, hist in rows:
        print(f"{name:18} {exp:8.3f} {on_sample:8.3f} {got:7.3f} {secs:6.1f}  {hist}")
    exp_all = [r[1] for r in rows]
    got_all = [r[3] for r in rows]
    rho_all = spearmanr(exp_all, got_all).statistic
    graded = [(r[1], r[3]) for r in rows if r[0] not in ("empty", "not_chat")]
    rho_graded = spearmanr([e for e, _ in graded], [g for _, g in graded]).statistic if len(graded) > 2 else rho_all
    mae = sum(abs(r[2] - r[3]) for r in rows) / len(rows)
    print(f"Spearman rho with the expected order, all {len(rows)} corpora: {rho_all:.3f}; the {len(graded)} graded "
          f"corpora: {rho_graded:.3f}; mean |score - expected on the sample| = {mae:.3f}")
    print(f"per-instance grade agreement with the intended grade: {agree}/{total} = {agree / max(total, 1):.1%}")
    misses = sorted(((k, v) for k, v in confusion.items() if k[0] != k[1]), key=lambda kv: -kv[1])
    if misses:
        print("  disagreements (intended -> given: count): " +
              "; ".join(f"{a} -> {b}: {c}" for (a, b), c in misses[:8]))
    rate = judged / judge_s if judge_s > 0 else float("nan")
    print(f"judge consulted for {judged} of {total} graded instances ({judge_s:.1f}s of judge time); "
          f"{total / wall:.2f} graded instances/s over the pass (wall {wall:.1f}s)")
    return {"scores": scores, "rho_all": rho_all, "rho_graded": rho_graded, "judged_per_s": rate,
            "agreement": agree / max(total, 1), "graded_per_s": total / wall}


def throughput(task, corpora: dict, work: Path, n: int, seed: int) -> dict[str, float]:
    """Label-scoring throughput of the local judge: `n` instances (half clean, half off-task) judged with
    judge_policy='always' and a fresh request cache, then again from the cache."""
    half = n // 2
    records = corpora["clean"][0][:n - half] + corpora["off_task_mmlu"][0][:half]
    folder = work / "corpora" / "throughput"
    write_corpus(folder, records)
    cache = work / "llm-cache-throughput"
    if cache.exists():
        shutil.rmtree(cache)
    cfg = VerifierConfig(judge_policy="always", use_source_gold=False, arithmetic_check=False)
    verifier = Verifier(task, judge="local", judge_cache=cache, config=cfg)
    verifier.client  # load the model outside the timed runs
    verifier.relevance()
    out = {}
    print(f"\n== local judge throughput ({n} instances, judge asked for each) ==")
    for label in ("uncached", "cached"):
        report = verifier.verify(folder, sample=n, seed=seed)
        js = report.timings["judge_s"]
        out[label] = report.judged / js if js > 0 else float("nan")
        with_emb = report.judged / (js + report.timings["relevance_s"])
        out[label + "_with_embeddings"] = with_emb
        print(f"{label:9}: {report.judged} judged, label scoring {js:.3f}s = {out[label]:.3f} instances/s; with the "
              f"embedding signal ({report.timings['relevance_s']:.2f}s) {with_emb:.2f} instances/s")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--records", type=int, default=150, help="records per corpus")
    ap.add_argument("--sample", type=int, default=100, help="instances the verifier grades per corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint of a remote judge")
    ap.add_argument("--model", default=None, help="model name of the remote judge")
    ap.add_argument("--skip-local", action="store_true", help="only run the remote judge")
    ap.add_argument("--throughput-n", type=int, default=12, help="instances of the judge throughput measurement")
    args = ap.parse_args(argv)

    work = args.out or Path(tempfile.mkdtemp(prefix="verifier-bench-"))
    kitchen = work / "kitchen"
    prepare_kitchen("gsm8k", kitchen, seed=0, force=True)
    task = load_task(kitchen / "task.yaml")
    corpora = build_corpora(kitchen, args.records, args.seed)
    folders = {name: work / "corpora" / name for name in corpora}
    for name, (records, _) in corpora.items():
        write_corpus(folders[name], records)
    config = VerifierConfig()
    print(f"work folder: {work}; {len(corpora)} corpora of {args.records} records; sample {args.sample}")

    results = {}
    if not args.skip_local:
        cache = work / "llm-cache"
        if cache.exists():
            shutil.rmtree(cache)  # the first pass must be uncached
        verifier = Verifier(task, judge="local", judge_cache=cache, config=config)
        results["local_uncached"] = run_pass("local verifier, uncached", verifier, corpora, folders, args.sample,
                                             args.seed, config)
        results["local_second_run"] = run_pass("local verifier, second run (cached judge requests)", verifier,
                                               corpora, folders, args.sample, args.seed, config)
        no_gold = VerifierConfig(use_source_gold=False)
        v2 = Verifier(task, judge=verifier.client, judge_mode="labels", config=no_gold)
        wrong = {k: v for k, v in corpora.items() if k == "clean" or k.startswith("wrong_")}
        results["local_no_gold"] = run_pass("wrong-answer corpora without source gold answers (arithmetic checker "
                                            "only)", v2, wrong, folders, args.sample, args.seed, no_gold)
        results["throughput"] = throughput(task, corpora, work, args.throughput_n, args.seed)
    if args.base_url or args.model:
        if not (args.base_url and args.model):
            ap.error("--base-url and --model go together")
        from datachef.llm import make_client

        client = make_client("openai", model=args.model, base_url=args.base_url, cache_dir=work / "llm-cache")
        remote = Verifier(task, judge=client, config=config)
        results["remote"] = run_pass("remote judge", remote, corpora, folders, args.sample, args.seed, config)

    tp = results.pop("throughput", None)
    print("\nsummary: " + "; ".join(f"{k}: rho={v['rho_all']:.3f} (graded corpora {v['rho_graded']:.3f}), "
                                    f"agreement {v['agreement']:.1%}, {v['graded_per_s']:.2f} graded/s"
                                    for k, v in results.items()))
    if tp:
        print(f"local judge: {tp['uncached']:.3f} judged/s uncached ({tp['uncached_with_embeddings']:.3f} with "
              f"embeddings), {tp['cached']:.0f} judged/s cached ({tp['cached_with_embeddings']:.2f} with embeddings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
