"""The Data Verifier: scores a recipe's corpus without training (the proxy reward of DataChef).

    report = verify_run("runs/my-recipe", task, judge="local", sample=100, seed=0)   # writes verify.json
    report.score                    # the reward R: mean rubric score, or −λ_empty / −λ_format
    dvs_avg([r1.score, r2.score, None], n=3)

Pieces: gates.py (deterministic gates), checkers.py + arithmetic.py + solvers.py (ground-truth checkers; solvers
compute the answer of questions that determine it), relevance.py
(embedding relevance), judge.py (rubric judge, structured or label-scored, and the local decision procedure),
reward.py (R and DVS_avg@N), run.py (`Verifier`, `verify_run`, `VerifyReport`). Reading and comparing answers and
running code under limits is `datachef.answers`, shared with evaluation.
Heavy dependencies (torch, sentence-transformers, math-verify) are imported only when used.
"""
from .config import GRADES, VERIFIER_VERSION, Grade, VerifierConfig, VerifierError
from .reward import dvs_avg, reward
from .run import (REPORT_FILE, InstanceResult, Verifier, VerifyReport, format_report, verify_command,
                  verify_run)

__all__ = ["GRADES", "VERIFIER_VERSION", "Grade", "InstanceResult", "REPORT_FILE", "Verifier", "VerifierConfig",
           "VerifierError", "VerifyReport", "dvs_avg", "format_report", "reward", "verify_command", "verify_run"]
