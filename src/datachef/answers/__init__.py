"""Answer handling shared by the Data Verifier (grading training records), evaluation (scoring a model on the
benchmark) and the ops (normalising extracted answers), so that all of them read and compare answers alike.

- extract.py: read answers out of text — the final answer (`extract_answer`, strict or `lenient`), whether a
  reply states one (`states_an_answer`), the option letter picked (`extract_letter`) and the MCQ option layout
  (`format_mcq`, `listed_options`), the code given (`extract_code`).
- compare.py: what answers are worth and whether two are the same — `answers_equivalent` (exact rationals for
  plain numbers, then math-verify with thread-safe timeouts), `answer_number`, `normalise_number`, `parse_math`,
  MCQ gold letters (`gold_letter`), free text (`normalize_text`, `texts_equal`).
- code.py: `code_test_program` (HumanEval / MBPP / generic tests) and `run_python`, the one sandboxed runner.

Low in the import graph: it imports only the standard library and (lazily) math-verify.
"""
from .code import RunResult, code_test_program, run_python
from .compare import (LETTERS, answer_number, answers_equivalent, gold_letter, normalise_number, normalize_text,
                      number_value, parse_math, texts_equal)
from .extract import (HASH_ANSWER, OPTION_LETTERS, extract_answer, extract_code, extract_letter, format_mcq,
                      listed_options, states_an_answer)

__all__ = ["HASH_ANSWER", "LETTERS", "OPTION_LETTERS", "RunResult", "answer_number", "answers_equivalent",
           "code_test_program", "extract_answer", "extract_code", "extract_letter", "format_mcq", "gold_letter",
           "listed_options", "normalise_number", "normalize_text", "number_value", "parse_math", "run_python",
           "states_an_answer", "texts_equal"]
