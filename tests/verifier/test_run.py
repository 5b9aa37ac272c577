"""verify_run end to end: penalties, verify.json, structured and label judges, judge failures."""
from __future__ import annotations

import json

import pytest

from datachef.verifier import GRADES, REPORT_FILE, Grade, Verifier, VerifierConfig, VerifierError, verify_run
from datachef.verifier.judge import JUDGE_SCHEMA, parse_structured

from .conftest import BENCH, GOLD, LabelJudge, ScriptedJudge, chat, gold_chat


def wrong_chat(i: int) -> dict:
    g = GOLD[i]
    bad = int(g["answer"]) + 3
    solution = g["solution"].rsplit("\n", 2)[0] + f"\nShe keeps {bad} pens.\n#### {bad}"
    return chat(g["question"], solution, "gold", i)


def test_missing_data_is_empty_penalty(task, write_run):
    out = write_run(None)
    report = verify_run(out, task, judge=ScriptedJudge())
    assert report.status == "empty" and report.score == -1.0
    saved = json.loads((out / REPORT_FILE).read_text())
    assert saved["score"] == -1.0 and saved["status"] == "empty" and saved["config"]["lambda_empty"] == 1.0
    # A data.jsonl with only blank lines is empty too.
    (out / "data.jsonl").write_text("\n\n")
    assert verify_run(out, task, judge=ScriptedJudge()).score == -1.0


def test_not_chat_is_format_penalty(task, write_run):
    out = write_run([{"question": "q", "answer": "a"}, gold_chat(0)])
    report = verify_run(out, task, judge=ScriptedJudge(), config=VerifierConfig(lambda_format=0.3))
    assert report.status == "format_violation" and report.score == -0.3
    assert report.malformed_lines == 1 and report.malformed[0]["line"] == 1
    assert "messages" in report.malformed[0]["error"]
    out = write_run(["{not json", gold_chat(0)], name="broken")
    assert verify_run(out, task, judge=ScriptedJudge()).score == -0.5
    # Tolerated up to max_malformed_fraction.
    out = write_run(["{not json"] + [gold_chat(i) for i in range(4)], name="tolerant")
    report = verify_run(out, task, judge=ScriptedJudge(), config=VerifierConfig(max_malformed_fraction=0.25))
    assert report.status == "scored" and report.malformed_lines == 1


def test_structured_judge_end_to_end(task, write_run):
    dup = gold_chat(2)
    leaked = chat(BENCH[4]["question"], "16 - 3 - 4 = 9\n#### 9", "web", 0)
    broken = {"messages": [{"role": "user", "content": "Solve: what is 3 + 4 apples?"},
                           {"role": "user", "content": "please"}], "meta": {"source": "gold", "row": 0}}
    off = chat("Who wrote the play Hamlet and in which century was it written?", "Shakespeare, 16th century.",
               "web", 1)
    records = [gold_chat(0), gold_chat(1), dup, dup, wrong_chat(3), leaked, broken, off]
    out = write_run(records)

    judge = ScriptedJudge(lambda prompt: "Task mismatch" if "Hamlet" in prompt else "Pass")
    report = verify_run(out, task, judge=judge, sample=100, seed=0)
    grades = {i.index: (i.grade, i.decided_by) for i in report.instances}
    assert grades == {0: ("Pass", "judge"), 1: ("Pass", "judge"), 2: ("Pass", "judge"), 3: ("Invalid", "gate"),
                      4: ("Incorrect", "checker"), 5: ("Invalid", "gate"), 6: ("Format error", "gate"),
                      7: ("Task mismatch", "judge")}
    assert report.reward["paper"] == pytest.approx((3 * 1.0 + 0.4) / 8)
    # Whole corpus: record 3 copies record 2 and record 5 leaks a held-out item: 1 of 8 leaked zeroes the
    # composite reward (leak_penalty 10), whatever the rest is worth.
    assert report.corpus["duplicates"] == 1 and report.corpus["leaks"] == 1
    assert report.reward["leak_factor"] == 0.0 and report.score == report.reward["composite"] == 0.0
    assert report.grade_histogram == {"Invalid": 2, "Format error": 1, "Incorrect": 1, "Task mismatch": 1, "Pass": 3}
    assert judge.schemas and all(s == JUDGE_SCHEMA for s in judge.schemas)
    # Only undecided instances reach the judge, with the task context and checker evidence in the prompt.
    assert len(judge.prompts) == 4
    assert "Target task:" in judge.prompts[0] and "Benchmark example 1" in judge.prompts[0]
    assert "gold_answer: pass" in judge.prompts[0]
    saved = json.loads((out / REPORT_FILE).read_text())
    inst4 = next(i for i in saved["instances"] if i["index"] == 4)
    assert inst4["reference_answer"] == GOLD[3]["answer"] and "gold answer" in inst4["reason"]
    assert {c["name"] for c in inst4["checks"]} == {"gold_answer", "arithmetic", "expression"}
    assert saved["judge"] == {"backend": "scripted", "model": "scripted-judge", "mode": "structured"}
    assert saved["usage"]["requests"] == 4 and saved["usage"]["completion_tokens"] == 48
    assert {"gates_s", "checkers_s", "judge_s", "total_s"} <= set(saved["timings"])


def test_sampling_is_seeded(task, write_run):
    out = write_run([gold_chat(i % len(GOLD)) | {"meta": {"source": "gold", "row": i % len(GOLD)}}
                     for i in range(8)] + [wrong_chat(i) for i in range(8)])
    a = verify_run(out, task, judge=ScriptedJudge(), sample=5, seed=1)
    b = verify_run(out, task, judge=ScriptedJudge(), sample=5, seed=1)
    c = verify_run(out, task, judge=ScriptedJudge(), sample=5, seed=2)
    assert [i.index for i in a.instances] == [i.index for i in b.instances]
    assert [i.index for i in a.instances] != [i.index for i in c.instances]
    assert a.sampled == 5 and a.records == 16


def test_judge_failures_are_errors_not_zeros(task, write_run, fake_embedder):
    out = write_run([gold_chat(0), gold_chat(1)])
    with pytest.raises(VerifierError, match="connection refused"):
        verify_run(out, task, judge=ScriptedJudge(fail=True))
    with pytest.raises(VerifierError, match="not valid rubric JSON"):
        verify_run(out, task, judge=ScriptedJudge(raw="I think it is fine."))
    with pytest.raises(VerifierError, match="grade 'Excellent'"):
        verify_run(out, task, judge=ScriptedJudge(raw='{"reference_answer": "1", "grade": "Excellent", '
                                                      '"reason": "x"}'))
    with pytest.raises(VerifierError, match="cannot score grade labels"):
        verify_run(out, task, judge=LabelJudge(fail=True), judge_mode="labels",
                   config=VerifierConfig(judge_policy="always"))
    assert not (out / REPORT_FILE).exists()


def test_parse_structured_accepts_fenced_json():
    obj = parse_structured('```json\n{"reference_answer": "7", "grade": "Pass", "reason": "ok"}\n```')
    assert obj == {"grade": "Pass", "reason": "ok", "reference_answer": "7"}


def test_label_judge_decision_procedure(task, write_run, fake_embedder):
    off = chat("Who wrote the play Hamlet and in which century was it written?", "Shakespeare, 16th century.",
               "web", 1)
    bare = chat(GOLD[4]["question"], f"#### {GOLD[4]['answer']}", "gold", 4)
    truncated = chat(GOLD[5]["question"], GOLD[5]["solution"].split("\n")[0], "gold", 5)
    # On topic, no gold (unknown source) and no equation to recompute: only the judge can say anything.
    unchecked = chat("Maria buys 6 boxes of pens with 5 pens in each box and gives away 3 pens. How many pens does "
                     "Maria keep?", "Maria buys thirty pens and gives three away, so she keeps twenty seven pens in "
                     "the end.\n#### 27", "web", 2)
    # On topic and finished, but the answer is not in the benchmark's '#### N' form.
    worded = chat(GOLD[6]["question"], "She buys the pens in boxes and gives one away, so after all of that the "
                  "answer is: seventeen pens.", "web", 3)
    out = write_run([gold_chat(0), wrong_chat(1), off, bare, truncated, unchecked, worded])
    judge = LabelJudge()  # uniform label scores: no opinion
    v = Verifier(task, judge=judge, judge_mode="labels")
    report = v.verify(out)
    got = {i.index: i.grade for i in report.instances}
    assert got == {0: "Pass", 1: "Incorrect", 2: "Task mismatch", 3: "Task mismatch", 4: "Incorrect", 5: "Pass",
                   6: "Task mismatch"}
    inst = {i.index: i for i in report.instances}
    assert inst[2].signals["question_ratio"] < inst[0].signals["question_ratio"]
    assert "bare answer" in inst[3].reason and "never reaches a final answer" in inst[4].reason
    assert "off topic" in inst[2].reason and "not in the form the benchmark expects" in inst[6].reason
    # The judge is asked only where its opinion could change the grade (here: the unchecked on-topic instances).
    assert inst[5].decided_by == "judge" and set(inst[5].signals["judge_logprobs"]) == set(GRADES)
    assert inst[0].decided_by == "checker" and inst[2].decided_by == "signals"
    assert judge.calls == 2 + 3  # the two unchecked on-topic instances + 3 dev items as calibration reference
    assert inst[5].signals["judge_logprobs"]["Pass"] == pytest.approx(inst[5].signals["judge_logprobs"]["Invalid"])

    # A judge sure that answers are wrong flips the unchecked on-topic instance, but gets no correctness vote off
    # topic (a 135M model is at chance there).
    sure = LabelJudge({"Incorrect": -0.1, "Pass": -6.0, "Task mismatch": -6.0})
    got = {i.index: i.grade for i in Verifier(task, judge=sure, judge_mode="labels").verify(out, write=False)
           .instances}
    assert got[5] == "Incorrect" and got[2] == "Task mismatch" and got[0] == "Pass"

    # judge_policy='always' consults it for every instance no checker failed.
    judge = LabelJudge()
    Verifier(task, judge=judge, judge_mode="labels", config=VerifierConfig(judge_policy="always")).verify(out)
    assert judge.calls == 3 + 6

    # Contextual calibration against a content-free instance instead: one reference prompt.
    judge = LabelJudge()
    Verifier(task, judge=judge, judge_mode="labels", config=VerifierConfig(calibration="null")).verify(out)
    assert judge.calls == 2 + 1


def test_local_judge_with_tiny_model(task, write_run, tiny_model_dir):
    from datachef.llm.local import TransformersClient

    client = TransformersClient(str(tiny_model_dir), dtype="float32")
    out = write_run([gold_chat(0), wrong_chat(1),
                     chat("Who wrote the play Hamlet and in which century?", "Shakespeare, 16th century.", "web", 1)])
    report = verify_run(out, task, judge=client, config=VerifierConfig(judge_policy="always"))
    assert report.judge["mode"] == "labels" and report.judge["backend"] == "transformers"
    assert report.status == "scored" and report.sampled == 3
    assert {i.index: i.grade for i in report.instances}[1] == Grade.INCORRECT.value
    judged = [i for i in report.instances if i.decided_by == "judge"]
    assert judged and all(set(i.signals["judge_logprobs"]) == {g.value for g in Grade} for i in judged)
    assert report.usage["requests"] == 0  # label scoring is not a chat request
    saved = json.loads((out / REPORT_FILE).read_text())
    assert saved["judge"]["mode"] == "labels" and len(saved["instances"]) == 3


def test_verify_command_and_format_report(task_path, task, write_run):
    from datachef.llm import LLMError
    from datachef.verifier import format_report, verify_command

    empty = write_run(None, name="empty")
    report = verify_command(empty, task_path)  # the local model is not even loaded for an empty run
    assert report.score == -1.0 and "not loaded" in report.judge["model"]
    assert "reward -1.000 (empty" in format_report(report)
    with pytest.raises(LLMError, match="needs --model and --base-url"):
        verify_command(empty, task_path, judge="openai", model="m")
    with pytest.raises(LLMError, match="--judge must be"):
        verify_command(empty, task_path, judge="claude")
    with pytest.raises(LLMError, match="--base-url is for"):
        verify_command(empty, task_path, base_url="http://127.0.0.1:1/v1")

    out = write_run([gold_chat(0), wrong_chat(1)])
    text = format_report(verify_run(out, task, judge=ScriptedJudge()))
    assert "(scored; 2 of 2 records" in text and "paper reward 0.500" in text and "1 × gold_answer checker" in text
    assert "whole corpus: 0 leaked, 0 duplicate, 0 near-duplicate of 2 records" in text
    bad = write_run(["not json"], name="bad")
    assert "line 1: not JSON" in format_report(verify_run(bad, task, judge=ScriptedJudge()))


def test_mcq_task_end_to_end(tmp_path, write_run):
    import yaml

    from datachef.io import load_task

    from .conftest import write_jsonl

    items = [{"question": f"Which number is the largest, case {i}?", "a": "1", "b": str(10 + i), "c": "3", "d": "4",
              "label": "B"} for i in range(6)]
    write_jsonl(tmp_path / "mc.jsonl", items)
    source_rows = [{"question": f"Pick the colour of the clear daytime sky, variant {i}.", "answer": "C"}
                   for i in range(3)]
    write_jsonl(tmp_path / "pool.jsonl", source_rows)
    spec = {"name": "mini-mcq", "instruction": "Answer multiple-choice questions with the letter.",
            "benchmark": {"name": "MC", "format": "mcq", "source": {"id": "mc", "uri": "mc.jsonl"},
                          "fields": {"question": "question", "answer": "label", "choices": ["a", "b", "c", "d"]},
                          "dev": 3},
            "sources": [{"id": "pool", "uri": "pool.jsonl"}]}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(spec))
    task = load_task(tmp_path / "task.yaml")

    def q(i):
        return f"{source_rows[i]['question']}\nA. red\nB. green\nC. blue\nD. black"

    out = write_run([chat(q(0), "The answer is C.", "pool", 0), chat(q(1), "The answer is A.", "pool", 1),
                     chat(q(2), "The answer is F.", "pool", 2)])
    judge = ScriptedJudge()
    report = verify_run(out, task, judge=judge)
    got = {i.index: (i.grade, i.decided_by) for i in report.instances}
    assert got == {0: ("Pass", "judge"), 1: ("Incorrect", "checker"), 2: ("Incorrect", "checker")}
    inst = {i.index: i for i in report.instances}
    assert "gold answer is C" in inst[1].reason and "not one of the options" in inst[2].reason
    assert "A. 1\nB. 10" in judge.prompts[0]  # dev examples are shown with their choices


@pytest.mark.slow
def test_embedded_smollm2_judge(task, write_run, tmp_path):
    """The real local verifier: SmolLM2-135M label scores (asked for every instance), MiniLM embeddings, checkers."""
    off = chat("Who wrote the play Hamlet and in which century was it written?", "The answer is Shakespeare.",
               "web", 1)
    out = write_run([gold_chat(0), gold_chat(1), wrong_chat(2), off])
    v = Verifier(task, judge="local", judge_cache=tmp_path / "cache", config=VerifierConfig(judge_policy="always"))
    report = v.verify(out)
    got = {i.index: i.grade for i in report.instances}
    assert got[2] == "Incorrect" and got[3] == "Task mismatch" and got[0] == got[1] == "Pass"
    assert report.judge["model"] != "(embedded default, not loaded)" and report.judge["mode"] == "labels"
    assert all("judge_logprobs" in i.signals for i in report.instances if i.index != 2)
    again = v.verify(out)  # every label request now comes from the cache
    assert [i.grade for i in again.instances] == [i.grade for i in report.instances]
    assert again.timings["judge_s"] < report.timings["judge_s"]
