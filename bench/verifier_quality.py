"""How well does the Data Verifier rank corpora of known quality, and can its reward be gamed?

From the gsm8k kitchen, build corpora whose quality is known by construction (clean, 25/50/100% wrong final answers,
off-task MMLU chats, bare arithmetic drills, truncated solutions, duplicated, contaminated with benchmark items, not
chat at all, empty), each in the real record format. Every record has an intended rubric grade, so each corpus has
an expected reward (the mean rubric score of its records, or −λ_empty / −λ_format). Verify each corpus with the local
verifier (SmolLM2-135M label scores + embeddings + checkers), and with a remote judge when --base-url/--model are
given; print per-corpus scores, per-instance grade agreement, Spearman's ρ with the expected order, and throughput
(judged instances/s, uncached then cached). The grade-quality tables compare the paper-style reward (the mean rubric
score of the sample) with the expected one.

Then the adversarial corpora (`--adversarial`, on by default): corpora built to game a reward — 10 records, one
problem repeated with its numbers changed, replies that copy the question, role-swapped fields, the right final
answer after wrong working, 5% held-out items hidden in a large corpus, another language, a corpus padded to the
budget with copies — each verified next to the clean corpus; the table shows the paper-style and the composite
reward with its parts, and whether each scores below the clean corpus.

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
from datachef.kitchens.gsm8k.build import (GsmItem, benchmark_ngrams, clean_question, corrupt_solution, overlaps,
                                           truncate_solution)
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


def paper_score(report) -> float:
    """The paper-style reward (the mean rubric score of the sample), or the penalty of an empty/unreadable corpus."""
    return report.reward.get("paper", report.score)


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
        scores[name] = paper_score(report)
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
        rows.append((name, expected_score(grades, config), on_sample, scores[name], report.timings.get("total_s", 0.0),
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


# -- adversarial corpora ----------------------------------------------------------------------------------------

# Word problems in French (a bilingual author's renderings of GSM-style templates): on task in content, not in the
# benchmark's language.
FRENCH = [
    ("{n} a {a} pommes et en achète {b} de plus au marché. Combien de pommes a-t-elle maintenant ?",
     "Elle commence avec {a} pommes et en achète {b}, donc {a} + {b} = {r} pommes.\n#### {r}", lambda a, b: a + b),
    ("Un bus transporte {a} passagers à chaque trajet et fait {b} trajets par jour. Combien de passagers "
     "transporte-t-il par jour ?", "Chaque trajet transporte {a} passagers, donc {b} trajets font {a} * {b} = {r} "
     "passagers.\n#### {r}", lambda a, b: a * b),
    ("{n} avait {a} autocollants et en a donné {b} à un camarade. Combien lui en reste-t-il ?",
     "Il donne {b} de ses {a} autocollants, donc il reste {a} - {b} = {r} autocollants.\n#### {r}",
     lambda a, b: a - b),
    ("Un fermier plante {a} rangées de maïs avec {b} plants par rangée. Combien de plants y a-t-il ?",
     "Il y a {a} rangées de {b} plants, donc {a} * {b} = {r} plants.\n#### {r}", lambda a, b: a * b),
    ("La bibliothèque a prêté {a} livres lundi et {b} livres mardi. Combien de livres a-t-elle prêtés en tout ?",
     "Elle a prêté {a} puis {b} livres, donc {a} + {b} = {r} livres.\n#### {r}", lambda a, b: a + b),
    ("Un réservoir contient {a} litres d'eau et une fuite en fait perdre {b}. Combien de litres reste-t-il ?",
     "Le réservoir perd {b} de ses {a} litres, donc il reste {a} - {b} = {r} litres.\n#### {r}", lambda a, b: a - b),
]
NAMES = ["Léa", "Omar", "Chloé", "Jules", "Inès", "Hugo"]


def one_template(n: int, seed: int, bench: list[dict]) -> list[GsmItem]:
    """`n` instances of a single gsm_symbolic template (numbers and names changed), the first template whose
    instances share no 8-gram with the benchmark (so the corpus is about breadth, not contamination)."""
    import reasoning_gym

    ds = reasoning_gym.create_dataset("gsm_symbolic", size=1, seed=seed)
    grams = benchmark_ngrams(bench)
    for _, generator in sorted(ds.generators.items()):
        items: list[GsmItem] = []
        for k in range(4 * n):
            ex = generator(random.Random(seed * 100_003 + k), 1.0)
            q, cot = clean_question(ex["question"]), ex["metadata"]["answer_cot"].strip()
            if "####" not in cot or overlaps(q, grams) or overlaps(cot, grams):
                break
            if all(q != it.question for it in items):
                items.append(GsmItem(q, cot, str(ex["answer"])))
            if len(items) == n:
                return items
    raise RuntimeError("no gsm_symbolic template is free of benchmark overlap")


def wrong_working(solution: str, answer: str, rng: random.Random) -> str | None:
    """The solution with one intermediate result changed, the final answer kept: only checking the work catches it."""
    head, final = solution.rsplit("\n", 1)
    eqs = [m for m in re.finditer(r"=\s*(\d+)(?!\d)", head) if m.group(1) != answer]
    if not eqs:
        return None
    m = rng.choice(eqs)
    return head[:m.start(1)] + str(int(m.group(1)) + rng.randint(2, 9)) + head[m.end(1):] + "\n" + final


def build_adversarial(kitchen: Path, n: int, seed: int) -> dict[str, list[Record]]:
    rng = random.Random(seed + 1)
    gold = read_jsonl(kitchen / "sources" / "gsm_symbolic_cot.jsonl")
    order = list(range(len(gold)))
    rng.shuffle(order)
    clean_rows = order[:n]
    task = load_task(kitchen / "task.yaml")
    dev, held_out = load_benchmark(task)
    budget = task.budget.train_samples

    def gold_chat(i: int) -> Record:
        return chat(gold[i]["question"], gold[i]["solution"], "gsm_symbolic_cot", i)

    out: dict[str, list[Record]] = {"clean": [gold_chat(i) for i in clean_rows]}
    out["tiny_10"] = out["clean"][:10]
    out["one_problem_renumbered"] = [chat(it.question, it.solution, "gsm_symbolic", k)
                                     for k, it in enumerate(one_template(n, seed, dev + held_out))]
    out["replies_copy_question"] = [chat(gold[i]["question"], gold[i]["question"], "gsm_symbolic_cot", i)
                                    for i in clean_rows]
    out["role_swapped"] = [chat(gold[i]["solution"], gold[i]["question"], "gsm_symbolic_cot", i) for i in clean_rows]
    recs = []
    for i in order[n:]:
        w = wrong_working(gold[i]["solution"], gold[i]["answer"], rng)
        if w is not None:
            recs.append(chat(gold[i]["question"], w, "gsm_symbolic_cot", i))
        if len(recs) == n:
            break
    out["right_answer_wrong_working"] = recs
    large = [gold_chat(i) for i in order[: budget // 2]]
    leaks = [chat(" ".join(b["question"].split()), re.sub(r"<<[^<>]*>>", "", b["answer"]), "web_mirror", k)
             for k, b in enumerate(rng.sample(held_out, round(0.05 * len(large) / 0.95)))]
    for r in leaks:  # hidden at random places
        large.insert(rng.randrange(len(large) + 1), r)
    out["hidden_leaks_5pct_large"] = large
    french = []
    for k in range(n):
        q, s, f = FRENCH[k % len(FRENCH)]
        a, b = rng.randint(20, 90), rng.randint(2, 19)
        v = {"n": rng.choice(NAMES), "a": a, "b": b, "r": f(a, b)}
        french.append(chat(q.format(**v), s.format(**v), "web_fr", k))
    out["another_language"] = french
    base = [gold_chat(i) for i in order[: budget // 4]]
    out["padded_to_budget"] = (base * 4)[:budget]
    return out


def run_adversarial(verifier: Verifier, corpora: dict[str, list[Record]], work: Path, sample: int,
                    seed: int) -> dict[str, Any]:
    print(f"\n== adversarial corpora ({verifier.mode} judge: {verifier._judge_info()['model']}) ==")
    print(f"{'corpus':27} {'records':>7} {'paper':>6} {'compos.':>7} {'quality':>7} {'yield':>6} {'breadth':>7} "
          f"{'leak f.':>7} {'leaks':>5} {'dups':>5} {'near':>5} {'secs':>5}  below clean (composite / paper)")
    rows = {}
    for name, records in corpora.items():
        folder = work / "adversarial" / name
        write_corpus(folder, records)
        r = verifier.verify(folder, sample=sample, seed=seed)
        rows[name] = {"records": len(records), "paper": paper_score(r), "composite": r.score, **r.reward,
                      **{k: r.corpus.get(k) for k in ("leaks", "duplicates", "near_duplicates")},
                      "seconds": r.timings.get("total_s", 0.0), "corpus_checks_s": r.timings.get("corpus_checks_s")}
    clean = rows["clean"]
    for name, x in rows.items():
        mark = "" if name == "clean" else (f"{'yes' if x['composite'] < clean['composite'] else 'NO'} / "
                                           f"{'yes' if x['paper'] < clean['paper'] else 'no'}")
        print(f"{name:27} {x['records']:7d} {x['paper']:6.3f} {x['composite']:7.3f} {x['quality']:7.3f} "
              f"{x['yield_factor']:6.3f} {x['breadth']:7.3f} {x['leak_factor']:7.3f} {x['leaks']:5d} "
              f"{x['duplicates']:5d} {x['near_duplicates']:5d} {x['seconds']:5.1f}  {mark}")
    others = [x for k, x in rows.items() if k != "clean"]
    below = sum(x["composite"] < clean["composite"] for x in others)
    below_paper = sum(x["paper"] < clean["paper"] for x in others)
    print(f"below the clean corpus: composite {below}/{len(others)}, paper-style {below_paper}/{len(others)}")
    return {"rows": rows, "below_composite": below, "below_paper": below_paper, "n": len(others)}


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
    ap.add_argument("--no-adversarial", action="store_true", help="skip the adversarial corpora")
    ap.add_argument("--only-adversarial", action="store_true", help="only the adversarial corpora")
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
    if not args.no_adversarial:
        adversarial = build_adversarial(kitchen, args.records, args.seed)
        verifier = Verifier(task, judge="local", judge_cache=work / "llm-cache-adversarial", config=config)
        adv = run_adversarial(verifier, adversarial, work, args.sample, args.seed)
        if args.only_adversarial:
            return 0 if adv["below_composite"] == adv["n"] else 1
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
