"""The rubric judge, in two modes.

The rubric is sequential: validity → format → correctness (the judge first derives its own reference answer) →
task alignment; the first failed check gives the grade (Invalid, Format error, Incorrect, Task mismatch), else Pass.
The judge sees the task instruction, the benchmark's description and a few dev examples.

**Structured mode** (a strong judge, e.g. `OpenAIClient`): the judge answers JSON constrained by `JUDGE_SCHEMA`
({reference_answer, grade: one of the 5 grades, reason}). A reply that is not such JSON is an error, never a 0.

**Label mode** (a weak local judge, the embedded SmolLM2-135M): free text from a 135M model is noise, so nothing is
parsed. `score_labels` gives the log-probability of each grade name as the start of the reply; these are calibrated
by subtracting a reference, which removes the model's fixed preference for some labels: by default the mean
log-probabilities of a few benchmark dev items posed as chats (known on-task and correct, so a typical good instance
scores ≈ 0 on every label and only a deviation from it counts), or those of a content-free "N/A" instance
(contextual calibration, Zhao et al. 2021). The model solves ≈5% of
GSM8K, so its labels are one vote among several and never decide alone. The local decision procedure, applied to an
instance that passed every gate (gates.py), is:

1. Correctness from checkers. Any checker that fails (gold answer via math-verify, arithmetic consistency, MCQ
   letter, code tests, an answer the question determines) → Incorrect, with the checker's reason and reference.
   Nothing else is computed.
2. Topicality. `question_ratio` = the user turn's embedding similarity to the dev questions over the dev set's own
   low-end self-similarity (relevance.py). embedding vote = sigmoid((question_ratio − relevance_margin) / 0.1);
   judge vote = calibrated P(Pass) / (P(Pass) + P(Task mismatch)). On topic when
   (1 − judge_weight) · embedding vote + judge_weight · judge vote ≥ 0.5.
3. Unfinished. An on-topic instance must conclude with an answer: one in the benchmark's form (its
   `answer_pattern`, '#### N', boxed, "the answer is N") or at least some answer ("the answer is B"); none at all →
   Incorrect (a truncated or unfinished solution).
4. Judge's correctness vote. An on-topic instance that no checker confirmed is Incorrect when the judge's calibrated
   log-odds of Incorrect over Pass exceed `judge_incorrect_margin`. Off topic the judge gets no correctness vote: a
   135M model is at chance on other domains, and such an instance is graded by alignment alone.
5. Alignment. Off topic → Task mismatch. An answer not in the benchmark's form ("the answer is B" for a numeric
   task) → Task mismatch. For benchmarks whose answers show their work (numeric format; the median dev answer has
   a few words of working besides its final-answer line), a response shorter than `response_shape_margin` × the
   dev answers' 5th-percentile word count is a bare answer → Task mismatch.
6. Otherwise Pass (with the passed checkers as the reason when there are any: deterministic evidence beats a weak
   judge).

The judge is asked only when its label scores could change the grade (`judge_policy="when_useful"`: the decision is
computed under extreme judge opinions first; if they all agree, the model is not run), since on a CPU one label
scoring costs a forward pass over the prompt. `judge_policy="always"` asks it for every instance no checker failed.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..llm.base import LLMClient, LLMError, SamplingParams
from .checkers import CheckResult
from .config import GRADES, Grade, VerifierConfig, VerifierError

Messages = list[dict[str, str]]

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reference_answer": {"type": "string", "description": "Your own answer to the user's request."},
        "grade": {"type": "string", "enum": GRADES},
        "reason": {"type": "string", "description": "One sentence: why this grade."},
    },
    "required": ["reference_answer", "grade", "reason"],
    "additionalProperties": False,
}

RUBRIC = """You are a strict data-quality judge. You grade ONE training instance (a chat: a user request and the \
assistant's reply) meant to teach a language model the target task described below.

Check in this order and stop at the first check that fails:
1. Validity: is it a usable example? Empty, garbled, cut-off, degenerate or repetitive text -> "Invalid".
2. Format: is it a proper chat where the assistant's reply answers the user's request? If not -> "Format error".
3. Correctness: first solve the user's request yourself and write your answer as reference_answer. Is the \
assistant's reply correct and complete (right final answer, sound steps)? If not -> "Incorrect".
4. Task alignment: does the instance teach the target task (the same kind of problem, and the kind and format of \
answer the task asks for)? If not -> "Task mismatch".
If every check passes -> "Pass".

Grades: "Invalid", "Format error", "Incorrect", "Task mismatch", "Pass"."""

LABEL_RUBRIC = """Grade one training example for the target task. Grades: "Invalid" (broken or cut-off text), \
"Format error" (not a proper question and answer), "Incorrect" (the answer is wrong), "Task mismatch" (correct, but \
not the target task's kind of problem or answer), "Pass" (correct and on task)."""

STRUCTURED_TAIL = ('Reply with JSON only: {"reference_answer": "...", "grade": "<one of the grades>", '
                   '"reason": "<one sentence>"}.')
LABEL_TAIL = "Reply with the grade only."


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " […]"


@dataclass
class JudgeContext:
    """What the judge knows about the task: instruction, benchmark description, a few dev examples."""

    instruction: str
    benchmark: str
    description: str
    examples: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_task(cls, task: Any, dev: list[dict], config: VerifierConfig, n_examples: int | None = None
                  ) -> "JudgeContext":
        f = task.benchmark.fields
        examples = []
        for item in dev[:config.dev_examples if n_examples is None else n_examples]:
            q = str(item.get(f.question, ""))
            if f.choices:
                q += "\n" + "\n".join(f"{chr(65 + i)}. {item.get(c, '')}" for i, c in enumerate(f.choices))
            examples.append((_cut(q, 800), _cut(str(item.get(f.answer, "")), 600)))
        return cls(task.instruction, task.benchmark.name, task.benchmark.description, examples)

    def render(self) -> str:
        parts = [f"Target task: {self.instruction}", f"Benchmark: {self.benchmark}. {self.description}".strip()]
        for i, (q, a) in enumerate(self.examples, 1):
            parts.append(f"Benchmark example {i}:\nQuestion: {q}\nAnswer: {a}")
        return "\n\n".join(parts)


def render_instance(messages: Messages, limit: int) -> str:
    return "\n".join(f"[{m.get('role')}]: {_cut(str(m.get('content', '')), limit)}" for m in messages)


def rubric_messages(ctx: JudgeContext, messages: Messages, config: VerifierConfig, *, evidence: str = "",
                    structured: bool = True) -> Messages:
    """The judge's prompt: the full rubric for a structured judge; a short one for label scoring (a small model's
    cost on CPU is the prompt's length, and it gains nothing from a long rubric)."""
    limit = config.max_instance_chars if structured else config.local_max_instance_chars
    user = (f"{ctx.render()}\n\n=== Instance to grade ===\n{render_instance(messages, limit)}"
            f"\n=== End of instance ===")
    if evidence:
        user += f"\n\nDeterministic checks already run: {evidence}"
    user += "\n\n" + (STRUCTURED_TAIL if structured else LABEL_TAIL)
    return [{"role": "system", "content": RUBRIC if structured else LABEL_RUBRIC}, {"role": "user", "content": user}]


@dataclass
class Verdict:
    grade: Grade
    reason: str
    reference_answer: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)


def evidence_text(checks: list[CheckResult]) -> str:
    return "; ".join(f"{c.name}: {c.status} ({c.detail})" for c in checks if c.status != "skip")


# -- structured (strong) judge --------------------------------------------------------------------------------
def parse_structured(text: str) -> dict[str, Any]:
    """The judge's JSON reply, validated against JUDGE_SCHEMA; raises ValueError with the reason otherwise."""
    s = text.strip()
    if s.startswith("```"):  # some servers wrap JSON in a fence despite the schema
        s = s.strip("`")
        s = s[s.find("{"):] if "{" in s else s
    start, end = s.find("{"), s.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    obj = json.loads(s[start:end + 1], strict=False)
    if not isinstance(obj, dict):
        raise ValueError("the reply is not a JSON object")
    grade = obj.get("grade")
    if grade not in GRADES:
        raise ValueError(f"grade {grade!r} is not one of {GRADES}")
    reason = obj.get("reason")
    if not isinstance(reason, str):
        raise ValueError("'reason' is missing or not a string")
    ref = obj.get("reference_answer")
    return {"grade": grade, "reason": reason, "reference_answer": None if ref is None else str(ref)}


def judge_structured(client: LLMClient, ctx: JudgeContext, items: list[tuple[int, Messages, list[CheckResult]]],
                     config: VerifierConfig) -> dict[int, Verdict]:
    """Grade every (index, messages, checks) with a JSON-constrained judge. Any failed or unparsable reply raises."""
    params = SamplingParams(max_tokens=config.judge_max_tokens, temperature=0.0)
    out: dict[int, Verdict] = {}
    for start in range(0, len(items), config.judge_batch_size):
        chunk = items[start:start + config.judge_batch_size]
        prompts = [rubric_messages(ctx, m, config, evidence=evidence_text(c)) for _, m, c in chunk]
        try:
            replies = client.chat_batch(prompts, params, json_schema=JUDGE_SCHEMA)
        except LLMError as e:
            raise VerifierError(f"the judge ({client.backend} '{client.model}') failed: {e}") from e
        for (index, _, _), reply in zip(chunk, replies):
            if reply.finish_reason == "error":
                raise VerifierError(f"the judge ({client.backend} '{client.model}') returned an error for instance "
                                    f"{index}: {reply.text[:300]}")
            try:
                obj = parse_structured(reply.text)
            except (ValueError, json.JSONDecodeError) as e:
                hint = " (cut off: raise judge_max_tokens)" if reply.finish_reason == "length" else ""
                raise VerifierError(f"the judge's reply for instance {index} is not valid rubric JSON{hint}: {e}; "
                                    f"reply: {reply.text[:300]!r}") from None
            out[index] = Verdict(Grade(obj["grade"]), obj["reason"] or "(no reason given)",
                                 obj["reference_answer"], {"judge": obj["grade"]})
    return out


# -- label (weak, local) judge --------------------------------------------------------------------------------
NULL_INSTANCE: Messages = [{"role": "user", "content": "N/A"}, {"role": "assistant", "content": "N/A"}]


def reference_scores(client: LLMClient, ctx: JudgeContext, dev_chats: list[Messages],
                     config: VerifierConfig) -> dict[str, float]:
    """The calibration reference (see the module docstring): mean label scores over dev chats, or the null instance."""
    if config.calibration == "null" or not dev_chats:
        return label_scores(client, ctx, NULL_INSTANCE, config)
    scores = [label_scores(client, ctx, m, config) for m in dev_chats[:config.calibration_examples]]
    return {g: sum(s[g] for s in scores) / len(scores) for g in GRADES}


def label_scores(client: LLMClient, ctx: JudgeContext, messages: Messages, config: VerifierConfig) -> dict[str, float]:
    try:
        scores = client.score_labels(rubric_messages(ctx, messages, config, structured=False), list(GRADES))
    except LLMError as e:
        raise VerifierError(f"the local judge ({client.backend} '{client.model}') cannot score grade labels: {e}") \
            from e
    missing = [g for g in GRADES if g not in scores or not math.isfinite(float(scores[g]))]
    if missing:
        raise VerifierError(f"the local judge returned no finite score for {missing}")
    return {g: float(scores[g]) for g in GRADES}


def calibrate(scores: dict[str, float], null: dict[str, float]) -> dict[str, float]:
    """Calibrated log-probabilities: log p(label | instance) − log p(label | reference), renormalised."""
    raw = {g: scores[g] - null[g] for g in GRADES}
    top = max(raw.values())
    z = math.log(sum(math.exp(v - top) for v in raw.values())) + top
    return {g: v - z for g, v in raw.items()}


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-60.0, min(60.0, x))))


@dataclass
class LocalSignals:
    """Everything the local decision uses for one instance (also written to verify.json)."""

    checks: list[CheckResult]
    final_answer: str | None
    needs_final_answer: bool  # the benchmark's answers have a final answer the instance should state
    states_answer: bool  # the reply concludes with an answer of some form (maybe not the benchmark's)
    relevance: dict[str, float]
    response_words: int
    shape_reference_words: float | None  # dev answers' low word count, when the benchmark shows its work
    judge_logprobs: dict[str, float] | None  # calibrated


# Extreme judge opinions: if the decision is the same under each, the judge cannot change it and is not asked.
_EXTREMES = [{g: (0.0 if g in favoured else -50.0) for g in GRADES} for favoured in
             ({Grade.PASS.value}, {Grade.INCORRECT.value}, {Grade.TASK_MISMATCH.value},
              {Grade.INCORRECT.value, Grade.TASK_MISMATCH.value})]


def judge_could_matter(s: LocalSignals, config: VerifierConfig) -> bool:
    """Whether some judge opinion would give another grade than another one, the other signals being fixed."""
    from dataclasses import replace

    return len({decide_local(replace(s, judge_logprobs=lp), config).grade for lp in _EXTREMES}) > 1


def decide_local(s: LocalSignals, config: VerifierConfig) -> Verdict:
    """The local decision procedure (module docstring, steps 1-6)."""
    failed = [c for c in s.checks if c.status == "fail"]
    if failed:  # step 2 needs no other signal
        c = failed[0]
        return Verdict(Grade.INCORRECT, f"{c.name} checker: {c.detail}", c.reference, dict(s.relevance))
    w = config.judge_weight
    ratio = s.relevance.get("question_ratio", 0.0)
    emb_vote = _sigmoid((ratio - config.relevance_margin) / 0.1)
    judge_vote = 0.5
    lp = s.judge_logprobs
    if lp is not None:
        pp, pm = math.exp(lp[Grade.PASS.value]), math.exp(lp[Grade.TASK_MISMATCH.value])
        judge_vote = pp / (pp + pm) if pp + pm > 0 else 0.5
    topical_score = (1 - w) * emb_vote + w * judge_vote
    on_topic = topical_score >= 0.5
    signals: dict[str, Any] = {"topical_score": round(topical_score, 4), "embedding_vote": round(emb_vote, 4),
                               "judge_vote": round(judge_vote, 4), **s.relevance}
    if lp is not None:
        signals["judge_logprobs"] = {g: round(v, 4) for g, v in lp.items()}

    if on_topic and s.needs_final_answer and s.final_answer is None and not s.states_answer:
        return Verdict(Grade.INCORRECT, "the response never reaches a final answer (truncated or unfinished)",
                       None, signals)
    reference = next((c.reference for c in s.checks if c.status == "pass" and c.reference), None)
    judge_incorrect = False
    if lp is not None:
        judge_incorrect = lp[Grade.INCORRECT.value] - lp[Grade.PASS.value] > config.judge_incorrect_margin
    passed = [c for c in s.checks if c.status == "pass"]
    # Only on topic: a 135M model is at chance on other domains (MMLU), so its correctness vote means nothing there.
    if on_topic and not passed and judge_incorrect:
        return Verdict(Grade.INCORRECT, "no checker applies and the judge's calibrated label scores favour Incorrect "
                                        f"by {lp[Grade.INCORRECT.value] - lp[Grade.PASS.value]:.2f} nats",
                       None, signals)
    if not on_topic:
        return Verdict(Grade.TASK_MISMATCH, f"off topic: similarity to the benchmark questions is {ratio:.2f}× the "
                                            f"dev set's low end (needs {config.relevance_margin:.2f}×)",
                       reference, signals)
    if s.needs_final_answer and s.final_answer is None:
        return Verdict(Grade.TASK_MISMATCH, "the response answers, but not in the form the benchmark expects",
                       reference, signals)
    if s.shape_reference_words is not None and \
            s.response_words < config.response_shape_margin * s.shape_reference_words:
        return Verdict(Grade.TASK_MISMATCH, f"bare answer: the response has {s.response_words} words where the "
                                            f"benchmark's answers show their work (≥ {s.shape_reference_words:.0f})",
                       reference, signals)
    if passed:
        return Verdict(Grade.PASS, "; ".join(f"{c.name}: {c.detail}" for c in passed), reference, signals)
    return Verdict(Grade.PASS, "on topic, well formed; no checker applies and the judge does not flag it",
                   None, signals)
