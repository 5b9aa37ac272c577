"""The paper's six held-out tasks (DataChef, arXiv 2602.11089, §4.1) as real task specs over the Hugging Face Hub,
for users with internet: in-domain PHYSICS, AIME'25, LiveCodeBench v6; out-of-domain OpenFinData, ClimaQA, CHID.

Unlike the offline pool stand-ins (`families.heldout_id` / `heldout_ood`), these point at the real data. Each task
is a TaskSpec-valid dict in `HUB_TASKS`; `NOTES[name]` says what was verified, where, and what was not. Where a
benchmark (or source) is not on the Hub as one loadable dataset, its uri is a local path relative to the task folder
and `LOCAL_ROUTES[name][path]` gives the exact download command (also repeated in the source's description and in
the YAML header). Every Hub id, config, split and field below was checked against a dataset card, a loader or the
data itself (see NOTES); nothing is downloaded here: `prepare_hub_task` only writes task.yaml.

    hub_task_yaml(name) -> bytes              commented YAML of one task
    prepare_hub_task(name, out) -> Path       out/task.yaml, written atomically
    prepare_hub_tasks(out) -> list[Path]      out/<name>/task.yaml for each of the six
"""
from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any, Iterable

PAPER = "DataChef (Chen et al. 2026, arXiv 2602.11089)"
PHYSICS_SHA = "15dc8d90e7196690c279827f472bf27993b3d04e"  # github.com/yale-nlp/Physics, main, checked
FEWCLUE_SHA = "62a02c6f31cf32814cfe522f78ef088228840f8d"  # github.com/CLUEbenchmark/FewCLUE, main, checked
_PHYSICS_RAW = f"https://raw.githubusercontent.com/yale-nlp/Physics/{PHYSICS_SHA}/PHYSICS/PHYSICS-textonly"
_FEWCLUE_RAW = f"https://raw.githubusercontent.com/CLUEbenchmark/FewCLUE/{FEWCLUE_SHA}/datasets/chid"
_OPENFINDATA_ZIP = "https://github.com/open-compass/OpenFinData/releases/download/release/openfindata_release.zip"


def _hf(id_: str, repo: str, description: str, *, config: str | None = None, split: str | None = None) -> dict:
    src: dict[str, Any] = {"id": id_, "uri": f"hf:{repo}"}
    if config is not None:
        src["config"] = config
    if split is not None:
        src["split"] = split
    src["description"] = description
    return src


def _local(id_: str, path: str, description: str) -> dict:
    return {"id": id_, "uri": path, "description": description}


# Local files (relative to the task folder) and the command, run in that folder, that fetches each one.
LOCAL_ROUTES: dict[str, dict[str, str]] = {
    "physics-hub": {
        "physics_textonly.jsonl":
            "for s in atomic electro mechanics optics quantum statistics; do curl -fsSL "
            f"{_PHYSICS_RAW}/${{s}}_dataset_textonly.jsonl; done > physics_textonly.jsonl",
        "phybench/PHYBench-fullques_v1.json":
            "python -c \"from huggingface_hub import hf_hub_download; hf_hub_download('Eureka-Lab/PHYBench', "
            "'PHYBench-fullques_v1.json', repo_type='dataset', local_dir='phybench')\"",
    },
    "openfindata-hub": {
        "openfindata_release/financial_terminology.json":
            f"curl -fsSL -o openfindata_release.zip {_OPENFINDATA_ZIP} && unzip -o openfindata_release.zip",
    },
    "chid-hub": {
        "FewCLUE/chid/test_public.json":
            f"curl -fsSL --create-dirs -o FewCLUE/chid/test_public.json {_FEWCLUE_RAW}/test_public.json",
        "FewCLUE/chid/train_few_all.json":
            f"curl -fsSL --create-dirs -o FewCLUE/chid/train_few_all.json {_FEWCLUE_RAW}/train_few_all.json",
    },
}


def _fetch(task: str, path: str) -> str:
    return f" LOCAL FILE: run in the task folder: {LOCAL_ROUTES[task][path]}"


_BUDGET = {"train_samples": 10_000, "reward_samples": 100}  # the paper's DBS budget (10K) and DVS sample (100)

HUB_TASKS: dict[str, dict[str, Any]] = {
    "physics-hub": {
        "name": "physics-hub",
        "instruction": (
            "Adapt the model to university-level (PhD-qualifying-exam) physics problem solving across classical "
            "mechanics, electromagnetism, quantum mechanics, thermodynamics and statistical mechanics, atomic physics "
            "and optics: reason step by step and give every final answer in LaTeX \\boxed{}; a problem may have "
            "several sub-questions, to be answered in order."),
        "benchmark": {
            "name": "PHYSICS",
            "description": (
                "PHYSICS (Feng et al. 2025, arXiv 2503.21821), the 999 text-only problems OpenCompass evaluates "
                "(PHYSICS-textonly: atomic 187, electro 170, mechanics 133, optics 93, quantum 204, statistics 212). "
                "Fields: questions, final_answers (a list, one per sub-question), solutions. The paper scores with "
                "the xVerify-9B-C judge, averaged over the six sub-tasks; datachef's free-text match is stricter."),
            "format": "free",
            "source": _local("physics-textonly", "physics_textonly.jsonl",
                             "The six PHYSICS-textonly JSONL files of github.com/yale-nlp/Physics, concatenated."
                             + _fetch("physics-hub", "physics_textonly.jsonl")),
            "fields": {"question": "questions", "answer": "final_answers"},
            "dev": 50,
        },
        "sources": [
            _local("phybench", "phybench/PHYBench-fullques_v1.json",
                   "PHYBench (Eureka-Lab/PHYBench, the paper's physics training benchmark): 100 problems with "
                   "handwritten solutions and reference answers." + _fetch("physics-hub",
                                                                           "phybench/PHYBench-fullques_v1.json")),
            _hf("sciq", "allenai/sciq", "SciQ: 11.7K crowdsourced science exam MCQs (physics, chemistry, biology) "
                "with a supporting paragraph (question, correct_answer, distractor1-3, support).", split="train"),
            _hf("mmlu-college-physics", "cais/mmlu", "MMLU college physics: 102 four-option MCQs (question, "
                "choices, answer index).", config="college_physics", split="test"),
            _hf("mmlu-high-school-physics", "cais/mmlu", "MMLU high-school physics: 151 four-option MCQs.",
                config="high_school_physics", split="test"),
            _hf("mmlu-conceptual-physics", "cais/mmlu", "MMLU conceptual physics: 235 four-option MCQs.",
                config="conceptual_physics", split="test"),
            _hf("math-precalculus", "EleutherAI/hendrycks_math", "MATH precalculus problems with worked LaTeX "
                "solutions ending in \\boxed{} (problem, level, type, solution).", config="precalculus",
                split="train"),
        ],
        "budget": _BUDGET,
    },
    "aime25-hub": {
        "name": "aime25-hub",
        "instruction": (
            "Adapt the model to competition mathematics at the level of the American Invitational Mathematics "
            "Examination: solve each problem with careful multi-step reasoning and end with the integer answer "
            "(0-999) in \\boxed{}."),
        "benchmark": {
            "name": "AIME'25",
            "description": (
                "AIME 2025 Parts I and II (30 problems, integer answers), MathArena's LaTeX transcription. The paper "
                "averages 8 samples per question judged by xVerify-9B-C; datachef scores one greedy sample by "
                "numeric match. With 30 items, the first 5 are the dev set."),
            "format": "numeric",
            "source": _hf("aime-2025", "MathArena/aime_2025", "AIME 2025 I+II: problem_idx, problem, answer.",
                          split="train"),
            "fields": {"question": "problem", "answer": "answer"},
            "dev": 5,
        },
        "sources": [
            _hf("gsm8k", "openai/gsm8k", "GSM8K grade-school word problems; the answer ends with '#### <number>' "
                "(question, answer). The paper's math training benchmark.", config="main", split="train"),
            _hf("math-number-theory", "EleutherAI/hendrycks_math", "MATH number theory (problem, level, type, "
                "solution with \\boxed{} answer).", config="number_theory", split="train"),
            _hf("math-counting-probability", "EleutherAI/hendrycks_math", "MATH counting and probability.",
                config="counting_and_probability", split="train"),
            _hf("numinamath-cot", "AI-MO/NuminaMath-CoT", "NuminaMath-CoT: ~860K competition and exam problems "
                "with chain-of-thought solutions (source, problem, solution, messages).", split="train"),
            _hf("openr1-math", "open-r1/OpenR1-Math-220k", "OpenR1-Math-220k: NuminaMath 1.5 problems with "
                "DeepSeek-R1 reasoning traces (default subset, ~94K).", config="default", split="train"),
            _hf("metamathqa", "meta-math/MetaMathQA", "MetaMathQA: 395K GSM8K/MATH augmentations (query, response, "
                "type, original_question).", split="train"),
            _hf("aime-2022-2024", "AI-MO/aimo-validation-aime", "90 AIME problems from 2022-2024 with a solution "
                "and answer (id, problem, solution, answer, url); no 2025 problem.", split="train"),
        ],
        "budget": _BUDGET,
    },
    "livecodebench-v6-hub": {
        "name": "livecodebench-v6-hub",
        "instruction": (
            "Adapt the model to competitive programming in Python: read a LeetCode, AtCoder or Codeforces problem "
            "(with starter code for function-style problems, stdin/stdout otherwise) and write a correct, efficient "
            "solution in a ```python block."),
        "benchmark": {
            "name": "LiveCodeBench v6",
            "description": (
                "LiveCodeBench code generation, release v6 only (the 175 problems of test6.jsonl, as OpenCompass's "
                "release_version='v6'), from lighteval's parquet copy of livecodebench/code_generation_lite (the "
                "original repo still needs its loading script, which datasets>=4 refuses). Fields: question_title, "
                "question_content, platform, question_id, contest_date, starter_code, difficulty, "
                "public_test_cases, private_test_cases (compressed), metadata. Scored in the paper by pass@1 with "
                "LCBCodeGenerationEvaluator; datachef's code scorer needs HumanEval/MBPP-style tests, so run the "
                "official LCB evaluator on the completions."),
            "format": "code",
            "source": _hf("lcb-v6", "lighteval/code_generation_lite", "LiveCodeBench code generation, v6 problems.",
                          config="v6", split="test"),
            "fields": {"question": "question_content", "answer": "public_test_cases"},
            "dev": 25,
        },
        "sources": [
            _hf("humaneval", "openai/openai_humaneval", "HumanEval: 164 function-completion problems with unit tests "
                "(task_id, prompt, canonical_solution, test, entry_point). The paper's code training benchmark.",
                config="openai_humaneval", split="test"),
            _hf("mbpp", "google-research-datasets/mbpp", "MBPP full: basic Python problems with a reference solution "
                "and asserts (task_id, text, code, test_list, test_setup_code, challenge_test_list).",
                config="full", split="train"),
            _hf("code-contests", "deepmind/code_contests", "CodeContests (AlphaCode): Codeforces-style problems with "
                "public/private tests and many solutions (name, description, public_tests, solutions, ...).",
                split="train"),
            _hf("lcb-v1-v5", "lighteval/code_generation_lite", "LiveCodeBench releases v1-v5 (880 problems, May 2023 "
                "to early 2025): same format as the benchmark, disjoint from v6. Large (private tests).",
                config="v1_v5", split="test"),
        ],
        "budget": _BUDGET,
    },
    "openfindata-hub": {
        "name": "openfindata-hub",
        "instruction": (
            "Adapt the model to Chinese financial-industry questions (OpenFinData, East Money / Shanghai AI Lab): "
            "financial terminology, facts, intent and sentiment, entity disambiguation, data checking, value "
            "extraction and metric calculation, answered in Chinese; for multiple choice, give the option letter."),
        "benchmark": {
            "name": "OpenFinData (financial_terminology)",
            "description": (
                "OpenFinData sub-task financial_terminology (金融术语): 4-option Chinese MCQs, fields question, A, B, "
                "C, D, answer (letter), as OpenCompass's OpenFinData_gen config reads them. The paper averages nine "
                "sub-tasks (3-option: emotion_identification, entity_disambiguation, financial_facts; 4-option: "
                "data_inspection, financial_terminology, metric_calculation, value_extraction; 5-option: "
                "intent_understanding; keyword-scored: entity_recognition); point the uri at another "
                "openfindata_release/<name>.json and adjust fields.choices to swap. Not on the Hub: a release zip."),
            "format": "mcq",
            "source": _local("openfindata-terminology", "openfindata_release/financial_terminology.json",
                             "OpenFinData release, financial_terminology sub-task."
                             + _fetch("openfindata-hub", "openfindata_release/financial_terminology.json")),
            "fields": {"question": "question", "answer": "answer", "choices": ["A", "B", "C", "D"]},
            "dev": 15,
        },
        "sources": [
            _hf("ceval-accountant", "ceval/ceval-exam", "C-Eval accountant (注册会计师): Chinese 4-option MCQs with "
                "explanations (id, question, A, B, C, D, answer, explanation); the test split hides answers.",
                config="accountant", split="val"),
            _hf("ceval-college-economics", "ceval/ceval-exam", "C-Eval college economics, same fields.",
                config="college_economics", split="val"),
            _hf("financeiq", "Duxiaoman-DI/FinanceIQ", "FinanceIQ: Chinese financial qualification-exam MCQs "
                "(CPA, banking, securities, insurance, funds, tax, ...), CSV files under data/test/.", split="test"),
            _hf("finance-alpaca", "gbharti/finance-alpaca", "Finance-Alpaca: ~69K English finance instruction pairs "
                "(instruction, input, output, text).", split="train"),
            _hf("fingpt-sentiment", "FinGPT/fingpt-sentiment-train", "FinGPT financial news sentiment instructions "
                "(input, output, instruction), 76.8K.", split="train"),
            _hf("fingpt-fiqa-qa", "FinGPT/fingpt-fiqa_qa", "FinGPT FiQA financial opinion QA (input, output, "
                "instruction).", split="train"),
            _hf("fingpt-convfinqa", "FinGPT/fingpt-convfinqa", "FinGPT ConvFinQA: numeric reasoning over earnings "
                "reports (FinQA-derived; input, output, instruction).", split="train"),
        ],
        "budget": _BUDGET,
    },
    "climaqa-hub": {
        "name": "climaqa-hub",
        "instruction": (
            "Adapt the model to graduate-level climate and atmospheric science question answering (ClimaQA): "
            "fill scientific cloze blanks with the exact term, answer multiple-choice questions with the option "
            "letter, and answer free-form questions precisely."),
        "benchmark": {
            "name": "ClimaQA-Gold (cloze)",
            "description": (
                "ClimaQA (Manivannan et al., ICLR 2025) expert-validated Gold set, cloze split: Question with a "
                "<Mask> blank, Answer the missing term. The paper averages the mcq, cloze and ffq sub-tasks judged "
                "by xVerify-9B-C; the mcq split keeps its options in one delimited string (Options) and ffq needs a "
                "judge, so neither fits datachef's scorers; cloze is scored here by normalised exact match."),
            "format": "free",
            "source": _hf("climaqa-gold-cloze", "UCSD-GENIE/ClimaQA", "ClimaQA Gold cloze questions (CSV).",
                          config="Gold", split="cloze"),
            "fields": {"question": "Question", "answer": "Answer"},
            "dev": 20,
        },
        "sources": [
            _hf("climaqa-silver-cloze", "UCSD-GENIE/ClimaQA", "ClimaQA Silver: large machine-generated set from the "
                "same textbooks, cloze split (Question, Answer).", config="Silver", split="cloze"),
            _hf("climaqa-silver-mcq", "UCSD-GENIE/ClimaQA", "ClimaQA Silver MCQs (Question, Options as one "
                "delimited string, Answer letter).", config="Silver", split="mcq"),
            _hf("climaqa-silver-ffq", "UCSD-GENIE/ClimaQA", "ClimaQA Silver free-form QA (Question, Answer).",
                config="Silver", split="ffq"),
            _hf("stackexchange-earthscience", "mlfoundations-dev/stackexchange_earthscience", "Earth Science "
                "StackExchange question/answer pairs (used by the paper's ClimaQA case study, Fig. 10).",
                config="default", split="train"),
            _hf("scienceqa-text", "tasksource/ScienceQA_text_only", "ScienceQA text-only MCQs (question, choices, "
                "answer index, hint, subject, topic, category, lecture, solution); filter climate/weather topics.",
                split="train"),
            _hf("climate-detection", "climatebert/climate_detection", "ClimateBERT: 1.3K report paragraphs labelled "
                "climate-related or not (text, label).", split="train"),
        ],
        "budget": _BUDGET,
    },
    "chid-hub": {
        "name": "chid-hub",
        "instruction": (
            "Adapt the model to Chinese idiom cloze (成语填空): given a Chinese passage with one blank marked "
            "#idiom# and seven candidate idioms, choose the idiom that fits and answer with its letter."),
        "benchmark": {
            "name": "CHID (FewCLUE)",
            "description": (
                "FewCLUE chid test_public (2002 items), the file OpenCompass's FewCLUE_chid config reads: id, "
                "candidates (7 idioms), content (passage with #idiom#), answer (0-based index). The paper averages "
                "accuracy over FewCLUE's dev_few_all and test_public; test_public is the held-out set here. Not on "
                "the Hub in this form (CLUE's chid config has several blanks per passage)."),
            "format": "mcq",
            "source": _local("fewclue-chid-test", "FewCLUE/chid/test_public.json",
                             "FewCLUE chid public test set (JSON lines)."
                             + _fetch("chid-hub", "FewCLUE/chid/test_public.json")),
            "fields": {"question": "content", "answer": "answer", "choices": ["candidates"]},
            "dev": 50,
        },
        "sources": [
            _local("fewclue-chid-train", "FewCLUE/chid/train_few_all.json",
                   "FewCLUE chid few-shot training set, same format as the benchmark."
                   + _fetch("chid-hub", "FewCLUE/chid/train_few_all.json")),
            _hf("clue-chid", "clue/clue", "CLUE ChID: 84.7K passages, each with several #idiom# blanks (idx, "
                "candidates, content as a list of passages, answers{text, candidate_id}).", config="chid",
                split="train"),
            _hf("clue-c3", "clue/clue", "CLUE C3: Chinese multiple-choice reading comprehension (id, context, "
                "question, choice, answer text).", config="c3", split="train"),
            _hf("thu-coai-chid", "thu-coai/chid", "The original ChID corpus (Zheng et al., ACL 2019) as raw text "
                "files: each row's `text` is one JSON line with content, candidates and groundTruth.", split="train"),
        ],
        "budget": _BUDGET,
    },
}

# The paper's name for each task, and whether it is in-domain (near the training domains) or out-of-domain.
PAPER_TASKS: dict[str, str] = {
    "physics-hub": "PHYSICS (Feng et al. 2025), in-domain",
    "aime25-hub": "AIME'25, in-domain",
    "livecodebench-v6-hub": "LiveCodeBench v6, in-domain",
    "openfindata-hub": "OpenFinData, out-of-domain",
    "climaqa-hub": "ClimaQA, out-of-domain",
    "chid-hub": "CHID (Chinese idiom cloze), out-of-domain",
}

# Verified item counts of the benchmarks (None: not counted); every dev must stay below them.
BENCHMARK_ITEMS: dict[str, int | None] = {
    "physics-hub": 999, "aime25-hub": 30, "livecodebench-v6-hub": 175, "openfindata-hub": None,
    "climaqa-hub": None, "chid-hub": 2002}

NOTES: dict[str, str] = {
    "physics-hub": (
        "Verified: the data itself at github.com/yale-nlp/Physics@" + PHYSICS_SHA[:10] + " (PHYSICS/PHYSICS-textonly/"
        "*_dataset_textonly.jsonl: 999 lines, keys id/questions/solutions/final_answers/graphs, final_answers a list; "
        "each file ends with a newline, so concatenation is safe); OpenCompass reads the same six subsets "
        "(opencompass/configs/datasets/PHYSICS, datasets/physics.py: questions->input, final_answers->target; its copy "
        "is http://opencompass.oss-cn-shanghai.aliyuncs.com/datasets/data/PHYSICS-textonly.zip, md5 "
        "92be6846a22dd4da942ca43f0638c709, not opened). PHYBench: https://huggingface.co/datasets/Eureka-Lab/PHYBench "
        "holds three JSON files and no configs block, so the repo is not one loadable dataset: fetch the 100-problem "
        "fullques file (its inner field names were not seen). cais/mmlu configs/splits from the copy "
        "https://huggingface.co/datasets/hails/mmlu_no_train (college_physics 102, high_school_physics 151, "
        "conceptual_physics 235 test rows); allenai/sciq and EleutherAI/hendrycks_math from their cards. Not found "
        "on the Hub: PHYSICS itself (yale-nlp/physics-verified exists but its card and layout were not checked). "
        "camel-ai/physics left out: gated, one physics.zip."),
    "aime25-hub": (
        "Verified: MathArena/aime_2025 has 30 rows (org listing https://huggingface.co/MathArena/datasets), default "
        "config, split train, fields problem/answer (MathArena cards, e.g. aime_2024_I; load_dataset('MathArena/"
        "aime_2025', split='train') with row['problem'], row['answer'] in several public repos). Sources from their "
        "cards: openai/gsm8k configs main/socratic; EleutherAI/hendrycks_math 7 subject configs, train/test "
        "(https://huggingface.co/datasets/EleutherAI/hendrycks_math); AI-MO/NuminaMath-CoT train 859K/test 100; "
        "open-r1/OpenR1-Math-220k configs default/extended, split train (card: load_dataset(..., 'default'); NeMo RL "
        "wrapper defaults subset='default', split='train'); AI-MO/aimo-validation-aime (90 AIME 22-24, fields id, "
        "problem, solution, answer, url). meta-math/MetaMathQA: split train; fields taken from exact copies "
        "(query, response, type, original_question), the original card not seen. The DataChef paper's own Fig. 1 "
        "lists OpenR1-Math-220k and MetaMathQA for this task. Not pinned: no full commit hash was seen."),
    "livecodebench-v6-hub": (
        "Verified: https://huggingface.co/datasets/lighteval/code_generation_lite (main: 'Convert dataset to Parquet "
        "(#1)', 89e5fc5) has parquet configs release_v1..release_v6, release_latest, v1..v6 and ranges such as "
        "v1_v5, split test; viewer counts v6 175 rows, v1_v5 880; its 'v6' README features: question_title, "
        "question_content, platform, question_id, contest_id, contest_date, starter_code, difficulty, "
        "public_test_cases, private_test_cases. 'v6' = test6.jsonl only, per the loader's ALLOWED_FILES in "
        "livecodebench/code_generation_lite (code_generation_lite.py); OpenCompass's livecodebench_v6_academic.py "
        "uses release_version='v6' with LCBCodeGenerationEvaluator. The upstream repo's main still ships the "
        "script (PRs #5-#7 convert it, merge not verified), hence the lighteval copy. Sources: openai/openai_humaneval "
        "(config openai_humaneval, split test, 164), google-research-datasets/mbpp (full/sanitized; train/test/"
        "validation/prompt), deepmind/code_contests (train/valid/test) from their cards. Unverified: that lighteval's "
        "copy is byte-identical to upstream; datachef's `eval` cannot score LCB items (no HumanEval/MBPP tests)."),
    "openfindata-hub": (
        "Verified: the download link in the README of https://github.com/open-compass/OpenFinData (commit 622c186, "
        "'数据集链接'), and the layout/fields from OpenCompass (opencompass/datasets/OpenFinData.py loads "
        "openfindata_release/<name>.json with json.load; configs/datasets/OpenFinData/OpenFinData_gen_46dedb.py lists "
        "the nine sub-tasks, input columns question/A-D(E) and output column answer, scored by AccEvaluator on the "
        "last capital letter; entity_recognition by OpenFinDataKWEvaluator). OpenCompass's mirror: "
        "http://opencompass.oss-cn-shanghai.aliyuncs.com/datasets/data/openfindata_release.zip (md5 "
        "8b2f4e20846dd5f65da8b4d53301dcbf). Not verified: the zip's contents (not downloadable here) and the item "
        "count (the published accuracies 84.00/73.33 imply a multiple of 75). No full Hub mirror was found (only "
        "single-subtask derivatives). Sources: ceval/ceval-exam configs accountant/college_economics with "
        "test/val/dev (https://huggingface.co/datasets/ceval/ceval-exam); Duxiaoman-DI/FinanceIQ has only CSVs in "
        "data/dev and data/test, split names inferred per https://huggingface.co/docs/hub/datasets-file-names-and-"
        "splits, CSV columns not checked; gbharti/finance-alpaca split train, fields from exact copies; FinGPT sets "
        "from their cards and the fingpt-all card (all load with split='train'). ibm-research/finqa is script-only."),
    "climaqa-hub": (
        "Verified: https://huggingface.co/datasets/UCSD-GENIE/ClimaQA card configs Gold and Silver, each with splits "
        "mcq/cloze/ffq from CSV files (climaqa_gold/cloze/cloze_benchmark.csv, ...); the same card appears as "
        "Rose-STL-Lab/ClimaQA. Columns Question/Options/Answer from OpenCompass datasets/climaqa.py and the "
        "authors' code (github.com/Rose-STL-Lab/genie-climaqa: mcq_to_pandas, cloze_utils). Sources "
        "mlfoundations-dev/stackexchange_earthscience (name='default', split='train') and "
        "tasksource/ScienceQA_text_only (split train; fields from its card) are the ones the paper's ClimaQA case "
        "study loads (Fig. 10); climatebert/climate_detection from its card (train 1300, test 400). Not verified: "
        "the Gold cloze row count, and whether the paper's ClimaQA score also averages Silver (OpenCompass has "
        "both); if it does, drop the Silver sources, they would be benchmark items."),
    "chid-hub": (
        "Verified: the data at github.com/CLUEbenchmark/FewCLUE@" + FEWCLUE_SHA[:10] + " datasets/chid/ "
        "(test_public.json 2002 JSON lines, train_few_all.json and dev_few_all.json 202 lines each; keys id, "
        "candidates (7), content with #idiom#, answer int) and OpenCompass's FewCLUE_chid_gen config (chid-dev = "
        "dev_few_all, chid-test = test_public, CHIDDatasetV2). clue/clue config chid (train 84709, validation 3218, "
        "test 3447; idx, candidates, content list, answers{text, candidate_id}) and c3 from the card "
        "https://huggingface.co/datasets/clue/clue (parquet per config since 'Convert dataset to Parquet (#7)'). "
        "thu-coai/chid (https://huggingface.co/datasets/thu-coai/chid) holds only .txt/.csv files under original/ "
        "and competition/ with no configs: split train is inferred from the file names (train_data.txt, ...), rows "
        "are raw text lines; not loaded here. Not verified: overlap between FewCLUE chid and CLUE/ChID passages "
        "(keep the decontaminate step in recipes for this task: it drops rows that reproduce a benchmark item)."),
}


def hub_task_names() -> list[str]:
    return list(HUB_TASKS)


def hub_task(name: str) -> dict[str, Any]:
    """A deep copy of the task dict `name` (so callers may edit it)."""
    if name not in HUB_TASKS:
        from .task import PoolError

        raise PoolError(f"unknown Hub task '{name}' (known: {', '.join(HUB_TASKS)})")
    return copy.deepcopy(HUB_TASKS[name])


def _comment(text: str, indent: str = "#   ") -> list[str]:
    return textwrap.wrap(text, width=118, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]


def hub_task_yaml(name: str) -> bytes:
    """The task as YAML, after a comment header naming the paper's task, the notes and the local files to fetch."""
    import yaml

    task = hub_task(name)
    lines = [f"# {PAPER} held-out task: {PAPER_TASKS[name]}.",
             "# Real data on the Hugging Face Hub (needs internet). Written by datachef.pool.hub; nothing was "
             "downloaded.", "# Notes:"]
    lines += _comment(NOTES[name])
    routes = LOCAL_ROUTES.get(name, {})
    if routes:
        lines.append("# Local files (relative to this folder) to fetch before use; run each command in this folder:")
        for path, command in routes.items():
            lines += [f"#   {path}:", f"#     {command}"]  # one line, to copy whole
    body = yaml.safe_dump(task, sort_keys=False, allow_unicode=True, width=120)
    return ("\n".join(lines) + "\n" + body).encode("utf-8")


def prepare_hub_task(name: str, out: str | Path) -> Path:
    """Write `out/task.yaml` for Hub task `name` (atomically); return its path. Nothing is downloaded."""
    from ..io import atomic_open

    data = hub_task_yaml(name)
    path = Path(out) / "task.yaml"
    with atomic_open(path, "wb") as f:
        f.write(data)
    return path


def prepare_hub_tasks(out: str | Path, names: Iterable[str] | None = None) -> list[Path]:
    """Write `out/<name>/task.yaml` for each Hub task (all six by default); return the paths."""
    chosen = list(names) if names is not None else hub_task_names()
    for name in chosen:
        hub_task(name)  # unknown names fail before anything is written
    return [prepare_hub_task(name, Path(out) / name) for name in chosen]
