"""Whole-corpus checks: every record, not only the graded sample, is checked for copies and held-out leaks."""
from __future__ import annotations

import json

from datachef.verifier import Verifier, VerifierConfig, format_report
from datachef.verifier.corpus import read_records, scan_corpus

from .conftest import BENCH, GOLD, ScriptedJudge, chat, gold_chat


def _near(threshold: float = 0.8):
    from datachef.ops import OpContext
    from datachef.ops.dedup_near import DedupNear, DedupNearParams

    op = DedupNear(DedupNearParams(fields=["messages"], threshold=threshold), OpContext(), "near")
    op.bind([{"messages": "messages"}])
    op.setup()
    return op


def test_scan_finds_copies_and_leaks_in_every_record(tmp_path):
    a, b = gold_chat(0), gold_chat(1)
    shouted = {"messages": [{"role": m["role"], "content": "  " + m["content"].upper()} for m in a["messages"]]}
    edited = chat(GOLD[1]["question"], GOLD[1]["solution"] + " Done.")  # one word added: a near copy
    path = tmp_path / "data.jsonl"
    lines = [a, b, "", shouted, "{broken", edited, gold_chat(2)]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    leaked = {json.dumps(gold_chat(2)["messages"])}

    scan = scan_corpus(path, near=_near(),
                       leak=lambda msgs: "item 7" if json.dumps(msgs) in leaked else None)
    assert scan.total == 6 and scan.good == 5 and scan.malformed_count == 1 and scan.malformed[0]["line"] == 5
    assert scan.duplicate_of == {2: 0} and scan.near_duplicate_of == {3: 1} and scan.leaks == {4: "item 7"}
    assert list(scan.line_of) == [0, 1, 2, 4, 5]  # indices among non-blank lines, the malformed one skipped
    f = scan.fractions()
    assert f["flagged_fraction"] == 0.6 and f["leak_fraction"] == 0.2
    assert read_records(path, {0, 4}) == {0: a, 4: gold_chat(2)}


def test_a_leak_outside_the_sample_still_costs_the_corpus(task, write_run):
    # 60 clean records and one held-out benchmark item: a sample of 5 almost surely misses it, the scan does not.
    records = [chat(f"Maria has {i} pens and buys {i + 3} more pens at the shop. How many pens does she have?",
                    f"She has {i} + {i + 3} = {2 * i + 3} pens.\n#### {2 * i + 3}", "web", i) for i in range(60)]
    records.insert(37, chat(BENCH[4]["question"], BENCH[4]["answer"], "web", 99))
    out = write_run(records)
    report = Verifier(task, judge=ScriptedJudge(), config=VerifierConfig(use_breadth=False)).verify(
        out, sample=5, seed=0)
    assert all(i.index != 37 for i in report.instances)  # not sampled
    assert report.corpus["leaks"] == 1 and report.corpus["examples"]["leak"][0]["record"] == 37
    assert report.reward["leak_factor"] < 1.0 and report.score < report.reward["paper"]


def test_records_in_the_benchmarks_template_are_near_copies_only_in_what_differs(tmp_path):
    """A generator's preamble that every benchmark item repeats is no duplication: distinct problems written in it
    are not near copies, while a problem repeated (here re-punctuated and re-cased) still is."""
    from datachef.verifier.solvers import _to_base

    from .conftest import free_task, write_jsonl

    preamble = ("Your task is to convert a number between two different bases.\n\nIf the target base is > 10, use "
                "lowercase letters a-z for digits above 9.\n\nNow, convert the base-{b} number {n} to base-{t}\n")

    def item(b: int, value: int, t: int) -> dict:
        return {"question": preamble.format(b=b, n=_to_base(value, b), t=t), "answer": _to_base(value, t)}

    bench = [item(7 + i % 5, 300 + 17 * i, 3 + i % 4) for i in range(40)]
    task = free_task(tmp_path, "bases", "Convert numbers between bases.", bench, "pool", bench[:1], dev=5)
    rows = [item(2 + i % 9, 1000 + 7 * i, 2 + i % 7) for i in range(60)]
    copy = dict(rows[3], question=rows[3]["question"].replace("Now, convert", "NOW convert").replace("\n", " "))
    path = write_jsonl(tmp_path / "data.jsonl", [chat(r["question"], r["answer"]) for r in [*rows, copy]])

    verifier = Verifier(task, judge=ScriptedJudge())
    scan = verifier.check_corpus(path)
    assert scan.near_duplicate_of == {60: 3} and scan.near_check == "on"
    verifier._template_shingles = lambda n: None  # compared whole, the shared preamble makes most of them copies
    assert len(verifier.check_corpus(path).near_duplicate_of) >= 5


def test_the_near_copy_check_is_off_where_the_benchmarks_own_items_look_alike(tmp_path):
    """Grids of two symbols share every word 5-gram: distinct puzzles would be taken for copies, as the benchmark's
    own items are. The check is left off (and says why); exact copies are still found."""
    import random

    from .conftest import free_task, write_jsonl

    rng = random.Random(0)

    def grid() -> dict:
        rows = [" ".join(rng.choice("OX") for _ in range(6)) for _ in range(6)]
        return {"question": "Find the shortest path in the following grid:\n" + "\n".join(rows), "answer": "up"}

    task = free_task(tmp_path, "grids", "Find paths.", [grid() for _ in range(40)], "pool", [grid()], dev=5)
    rows = [grid() for _ in range(30)]
    path = write_jsonl(tmp_path / "data.jsonl", [chat(r["question"], r["answer"]) for r in [*rows, rows[0]]])
    verifier = Verifier(task, judge=ScriptedJudge())
    scan = verifier.check_corpus(path)
    assert scan.near_check.startswith("off: ") and scan.near_duplicate_of == {} and scan.duplicate_of == {30: 0}
    assert scan.summary()["near_duplicate_check"] == scan.near_check
    text = format_report(verifier.verify(tmp_path, sample=5))  # what `datachef verify` prints says so
    assert "near copies not checked" in text and "near-copy check off: " in text
