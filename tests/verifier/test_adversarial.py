"""Corpora built to game the reward: each must score below the clean corpus of the same task under the composite
reward (the paper-style reward is blind to several of them, which is why the composite exists)."""
from __future__ import annotations

import random

import pytest

from datachef.verifier import Verifier, VerifierConfig

from .conftest import BENCH, LabelJudge, chat

# Eight kinds of grade-school problem (the benchmark's dev items are four different kinds): a clean corpus varies as
# much as the benchmark does.
TEMPLATES = [
    ("{n} has {a} apples and buys {b} more apples at the market. How many apples does {n} have now?",
     "{n} starts with {a} apples and buys {b} more, so {a} + {b} = {r} apples.\n#### {r}", lambda a, b: a + b),
    ("A bus carries {a} passengers on each trip and makes {b} trips a day. How many passengers does it carry?",
     "Each trip carries {a} passengers, so {b} trips carry {a} * {b} = {r} passengers.\n#### {r}", lambda a, b: a * b),
    ("{n} had {a} stickers and gave {b} stickers to a classmate. How many stickers are left?",
     "{n} gives away {b} of {a} stickers, so {a} - {b} = {r} stickers are left.\n#### {r}", lambda a, b: a - b),
    ("A farmer plants {a} rows of corn with {b} plants in every row. How many corn plants are there?",
     "There are {a} rows of {b} plants, so {a} * {b} = {r} plants.\n#### {r}", lambda a, b: a * b),
    ("The library lent {a} books on Monday and {b} books on Tuesday. How many books did it lend in total?",
     "It lent {a} books and then {b} books, so {a} + {b} = {r} books.\n#### {r}", lambda a, b: a + b),
    ("A tank holds {a} liters of water and a leak drains {b} liters. How much water remains in the tank?",
     "The tank loses {b} of its {a} liters, so {a} - {b} = {r} liters remain.\n#### {r}", lambda a, b: a - b),
    ("{n} runs {a} kilometers every day for {b} days. How far does {n} run altogether?",
     "{n} runs {a} kilometers on each of {b} days, so {a} * {b} = {r} kilometers.\n#### {r}", lambda a, b: a * b),
    ("A baker sold {a} muffins in the morning and {b} muffins in the afternoon. How many muffins were sold?",
     "The baker sold {a} and then {b} muffins, so {a} + {b} = {r} muffins.\n#### {r}", lambda a, b: a + b),
]
NAMES = ["Lena", "Omar", "Priya", "Jonas", "Mei", "Tariq", "Sofia", "Dev"]
FRENCH = [
    ("{n} a {a} pommes et en achète {b} de plus au marché. Combien de pommes {n} a-t-elle maintenant ?",
     "{n} commence avec {a} pommes et en achète {b}, donc {a} + {b} = {r} pommes.\n#### {r}", lambda a, b: a + b),
    ("Un bus transporte {a} passagers à chaque trajet et fait {b} trajets par jour. Combien de passagers ?",
     "Chaque trajet transporte {a} passagers, donc {b} trajets font {a} * {b} = {r} passagers.\n#### {r}",
     lambda a, b: a * b),
    ("{n} avait {a} autocollants et en a donné {b} à un camarade. Combien lui en reste-t-il ?",
     "{n} donne {b} de ses {a} autocollants, donc il reste {a} - {b} = {r} autocollants.\n#### {r}",
     lambda a, b: a - b),
]
N = 48


def problems(templates, n: int, seed: int, *, copies_of: int | None = None) -> list[tuple[str, str, str]]:
    """(question, worked solution, answer) triples, cycling through the templates (or only `copies_of`)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        q, s, f = templates[copies_of if copies_of is not None else i % len(templates)]
        a, b = rng.randint(20, 90), rng.randint(2, 19)
        values = {"n": rng.choice(NAMES), "a": a, "b": b, "r": f(a, b)}
        out.append((q.format(**values), s.format(**values), str(f(a, b))))
    return out


def chats(triples, source: str = "web") -> list[dict]:
    return [chat(q, s, source, i) for i, (q, s, _) in enumerate(triples)]


def corpora() -> dict[str, list[dict]]:
    clean = chats(problems(TEMPLATES, N, 0))
    bench_held_out = [chat(b["question"], b["answer"], "mirror", 900 + i) for i, b in enumerate(BENCH[4:])]
    wrong_working = []
    for q, s, r in problems(TEMPLATES, N, 0):  # the right final answer after a wrong equation
        head, final = s.rsplit("\n", 1)
        wrong = head.replace(f"= {r}", f"= {int(r) + 7}") + f"\nSo the answer is {r}.\n{final}"
        wrong_working.append((q, wrong, r))
    return {
        "clean": clean,
        "tiny_10": clean[:10],
        "one_problem_renumbered": chats(problems(TEMPLATES, N, 1, copies_of=0)),
        "replies_copy_question": [chat(q, q, "web", i) for i, (q, _, _) in enumerate(problems(TEMPLATES, N, 0))],
        "role_swapped": [chat(s, q, "web", i) for i, (q, s, _) in enumerate(problems(TEMPLATES, N, 0))],
        "right_answer_wrong_working": chats(wrong_working),
        "hidden_leaks_5pct": clean[:22] + bench_held_out[:1] + clean[22:] + bench_held_out[1:],  # 2 of 50
        "another_language": chats(problems(FRENCH, N, 0)),
        "padded_to_budget": clean + [dict(r) for r in clean] * 3,
    }


@pytest.fixture
def budget_task(task_path):
    """The mini-GSM task with a training budget the padded corpus reaches (4 x 48 records)."""
    import yaml

    from datachef.io import load_task

    spec = yaml.safe_load(task_path.read_text())
    spec["budget"] = {"train_samples": 4 * N, "reward_samples": 100}
    task_path.write_text(yaml.safe_dump(spec))
    return load_task(task_path)


def test_every_adversarial_corpus_scores_below_the_clean_one(budget_task, write_run, fake_embedder):
    verifier = Verifier(budget_task, judge=LabelJudge(), judge_mode="labels",
                        config=VerifierConfig(use_source_gold=False))
    reports = {name: verifier.verify(write_run(records, name=name), sample=30, seed=0)
               for name, records in corpora().items()}
    clean = reports.pop("clean")
    assert clean.status == "scored" and clean.score > 0.3, clean.reward
    table = {name: (r.score, r.reward.get("paper")) for name, r in reports.items()}
    below = {name: score < clean.score for name, (score, _) in table.items()}
    assert all(below.values()), (clean.score, table)
    # What makes each one lose, part by part.
    assert reports["tiny_10"].reward["yield_factor"] < 0.7 * clean.reward["yield_factor"]
    assert reports["one_problem_renumbered"].reward["breadth"] < 0.7
    leaky = reports["hidden_leaks_5pct"]
    assert leaky.corpus["leaks"] == 2 and leaky.reward["leak_factor"] < 0.7
    assert reports["padded_to_budget"].corpus["duplicates"] == 3 * N
    assert reports["padded_to_budget"].reward["useful_records"] == N
    assert reports["right_answer_wrong_working"].grade_histogram["Incorrect"] > 20
