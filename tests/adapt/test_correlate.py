"""The correlation study: statistics, corpus planning, an end-to-end run with a tiny model, resume, the CLI."""
from __future__ import annotations

import json
import math
import random
import shutil

import pytest
import yaml

from datachef.adapt.correlate import (CorrelateConfig, StudyResult, correlate_scores, correlation_table,
                                      plan_corpora, render_table, run_correlation)
from datachef.adapt.correlation import score_spread
from datachef.io import load_task
from datachef.llm.base import Completion, LLMClient

# ------------------------------------------------------------------------------------------------------ statistics


def test_correlate_scores_matches_scipy_on_known_data():
    from scipy import stats

    x = [0.1, 0.4, 0.35, 0.8, 0.9]
    y = [1.0, 2.0, 2.5, 3.9, 4.2]
    r = correlate_scores(x, y)
    assert r["n"] == 5 and r["note"] is None
    assert r["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic)
    assert r["pearson_p"] == pytest.approx(stats.pearsonr(x, y).pvalue)
    assert r["spearman"] == pytest.approx(0.9)  # one swapped pair among 5 ranks: 1 - 6*2/(5*24)
    assert 0 < r["spearman_p"] < 0.1
    # perfectly monotone but not linear: Spearman 1, Pearson < 1
    r = correlate_scores([1, 2, 3, 4], [1, 4, 9, 100])
    assert r["spearman"] == pytest.approx(1.0) and r["pearson"] < 0.95


def test_correlate_scores_constant_missing_and_too_few():
    r = correlate_scores([0.5, 0.5, 0.5, 0.5], [1, 2, 3, 4])
    assert math.isnan(r["pearson"]) and math.isnan(r["spearman"]) and "constant proxy" in r["note"]
    r = correlate_scores([1, 2, 3], [7, 7, 7])
    assert math.isnan(r["pearson"]) and "constant downstream score" in r["note"]
    r = correlate_scores([1, None, 3, float("nan")], [1, 2, 3, 4])  # missing pairs are left out
    assert r["n"] == 2 and math.isnan(r["pearson"]) and "need 3" in r["note"]
    table = correlation_table([{"verifier": v, "length_tokens": 3.0, "relevance": v / 2, "accuracy": v,
                                "neg_nll": -1 / v} for v in (1.0, 2.0, 3.0, 5.0)])
    assert table["verifier"]["accuracy"]["pearson"] == pytest.approx(1.0)
    assert table["length_tokens"]["accuracy"]["note"].startswith("constant proxy")
    assert table["relevance"]["neg_nll"]["spearman"] == pytest.approx(1.0)


# -------------------------------------------------------------------------------------------------------- fixtures

BENCH = [{"question": f"Calculate {a} + {b}.", "answer": str(a + b)} for a, b in
         [(3, 4), (12, 5), (7, 8), (20, 1), (9, 9), (14, 6), (2, 30), (11, 11), (5, 16), (8, 13)]]


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def study_task(tmp_path):
    """A chain-sum benchmark (4 dev + 6 held-out items) and four sources of different quality: correct sums,
    sums with wrong answers, worked solutions under other field names, and an off-task source too small to fill
    the budget."""
    rng = random.Random(0)
    pairs = [(rng.randint(30, 99), rng.randint(30, 99)) for _ in range(60)]
    _write_jsonl(tmp_path / "bench.jsonl", BENCH)
    _write_jsonl(tmp_path / "sources/good.jsonl",
                 [{"question": f"Calculate {a} + {b}.", "answer": str(a + b)} for a, b in pairs])
    _write_jsonl(tmp_path / "sources/wrong.jsonl",
                 [{"question": f"Calculate {a} - {b}.", "answer": str(a - b + 7)} for a, b in pairs])
    _write_jsonl(tmp_path / "sources/worked.jsonl",
                 [{"problem": f"Calculate {a} + {b} + 1.", "solution": f"{a} + {b} = {a + b}\n{a + b} + 1 = "
                   f"{a + b + 1}\n#### {a + b + 1}", "final": str(a + b + 1)} for a, b in pairs])
    _write_jsonl(tmp_path / "sources/spell.jsonl",
                 [{"prompt": f"Spell '{w}' backward.", "response": w[::-1]} for w in
                  ["apple", "river", "stone", "cloud", "table", "green", "light", "sound"]])
    task = {"name": "sums", "instruction": "Add integers; answer with the number.",
            "benchmark": {"name": "chain", "format": "numeric", "dev": 4,
                          "source": {"id": "bench", "uri": "bench.jsonl"}},
            "sources": [{"id": s, "uri": f"sources/{s}.jsonl"} for s in ("spell", "good", "wrong", "worked")],
            "budget": {"train_samples": 24, "reward_samples": 10}}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return tmp_path / "task.yaml"


class PassJudge(LLMClient):
    """A structured-mode judge that passes whatever the deterministic checkers left open."""

    backend = "scripted"

    def __init__(self):
        super().__init__("pass-judge")

    def _chat_batch(self, batch, params, json_schema):
        text = json.dumps({"reference_answer": "0", "grade": "Pass", "reason": "scripted"})
        return [Completion(text, prompt_tokens=1, completion_tokens=1) for _ in batch]


@pytest.fixture
def fast_verifier(monkeypatch):
    """Hashing embeddings instead of MiniLM, and the scripted judge instead of the embedded model."""
    import numpy as np

    from datachef import verifier
    from datachef.verifier import relevance

    class Embedder:
        def encode(self, texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False):
            import zlib

            out = np.zeros((len(texts), 256), dtype=np.float32)
            for i, t in enumerate(texts):
                for w in t.lower().split():
                    out[i, zlib.crc32(w.strip(".,?'").encode()) % 256] += 1.0
            return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    monkeypatch.setattr(relevance, "load_embedder", lambda path=None: Embedder())
    real = verifier.Verifier
    monkeypatch.setattr(verifier, "Verifier", lambda task, judge=None, **kw: real(task, judge=PassJudge(), **kw))


def _config(tiny_model, **kw) -> CorrelateConfig:
    """Settings the CLI can express too (test_study_end_to_end_resume_and_cli re-runs the study through it)."""
    base = dict(k=5, budget=12, base=str(tiny_model), eval_limit=4, max_new_tokens=4, sample=12,
                train={"max_seq_len": 64}, size_fractions=[0.5])
    return CorrelateConfig(**{**base, **kw})


CLI_ARGS = ["--k", "5", "--budget", "12", "--eval-limit", "4", "--max-new-tokens", "4", "--sample", "12",
            "--max-seq-len", "64", "--threads", "1", "--size-fraction", "0.5"]


# --------------------------------------------------------------------------------------------------------- planning

def test_plan_corpora_source_rule_and_length_quantiles(study_task):
    task = load_task(study_task)
    plans, notes = plan_corpora(task, CorrelateConfig(k=5, budget=12), 12)
    assert [p.id for p in plans] == ["src-good", "src-wrong", "src-worked", "len-shortest", "len-longest",
                                     "size-good-25", "size-good-50"]
    assert (plans[-1].of, plans[-1].fraction) == ("src-good", 0.5)
    assert any("left out" in n and "spell" in n for n in notes)  # 8 rows cannot fill a budget of 12
    assert plans[2].fields == ("problem", "solution")
    plans, _ = plan_corpora(task, CorrelateConfig(k=6, sources=["good"], recipes=["a/r.yaml"], size_fractions=[]),
                            12)
    assert [p.id for p in plans] == ["src-good", "len-shortest", "len-q25", "len-middle", "len-q75", "len-longest",
                                     "recipe-r"]
    plans, _ = plan_corpora(task, CorrelateConfig(k=5, size_source="worked", size_fractions=[0.5]), 12)
    assert plans[-1].id == "size-worked-50" and plans[-1].of == "src-worked"
    with pytest.raises(Exception, match="unknown source"):
        plan_corpora(task, CorrelateConfig(sources=["nope"]), 12)


# ------------------------------------------------------------------------------------------------------ end to end

def test_study_end_to_end_resume_and_cli(study_task, tiny_model, fast_verifier, tmp_path):
    import torch
    from typer.testing import CliRunner

    from datachef.cli import app

    torch.set_num_threads(1)
    out = tmp_path / "study"
    logs: list[str] = []
    result = run_correlation(study_task, out, _config(tiny_model), log=logs.append)

    ids = [r["id"] for r in result.rows]
    assert ids == ["src-good", "src-wrong", "src-worked", "len-shortest", "len-longest", "size-good-50"]
    rows = {r["id"]: r for r in result.rows}
    assert all(r["records"] == (6 if r["kind"] == "size" else 12) for r in result.rows)
    # Half the records: the same paper-style score's worth of data, and less of a composite reward.
    assert rows["size-good-50"]["verifier"] < rows["src-good"]["verifier"]
    assert rows["src-good"]["verifier"] > rows["src-wrong"]["verifier"]  # wrong sums fail the checkers
    assert rows["len-longest"]["length_chars"] > rows["len-shortest"]["length_chars"]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["neg_nll"] == -r["nll"] and r["eval_n"] == 4 for r in result.rows)
    assert result.base is not None and result.base["n"] == 4

    for cid in ids:
        folder = out / "corpora" / cid
        for name in ("run/data.jsonl", "verify.json", "proxies.json", "eval.json", "eval_items.jsonl",
                     "train/train.json", "adapter/adapter_config.json", "stages.json"):
            assert (folder / name).is_file(), f"{cid}/{name}"
        assert not (folder / "train" / "final").exists() and not (folder / "train" / "checkpoints").exists()
    assert (out / "base" / "eval.json").is_file()
    saved = json.loads((out / "correlation.json").read_text())
    assert set(saved["correlations"]) == {"verifier", "verifier_paper", "length_tokens", "relevance"}
    assert set(saved["correlations"]["verifier"]) == {"accuracy", "neg_nll"}
    assert saved["correlations"]["verifier"]["neg_nll"]["n"] == 6
    assert set(saved["timings"]) >= {"build", "verify", "train", "eval", "base_eval"}
    table = (out / "table.md").read_text()
    assert "| src-wrong | source | 12 |" in table and "Pearson" in table and "base (untrained)" in table
    assert (out / "table.csv").read_text().splitlines()[0].startswith("id,kind,records,verifier")
    assert (out / "scatter.png").read_bytes()[:4] == b"\x89PNG"

    # Resume: a corpus whose evaluation was lost (a killed study) is re-evaluated from its kept adapter; one whose
    # adapter was lost too is retrained; nothing else runs.
    def eval_mtimes():
        return {cid: (out / "corpora" / cid / "eval.json").stat().st_mtime_ns for cid in ids}

    before = eval_mtimes()
    (out / "corpora" / "src-wrong" / "eval.json").unlink()
    (out / "corpora" / "src-worked" / "eval.json").unlink()
    shutil.rmtree(out / "corpora" / "src-worked" / "adapter")
    logs.clear()
    again = run_correlation(study_task, out, _config(tiny_model), log=logs.append)
    assert [r["verifier"] for r in again.rows] == [r["verifier"] for r in result.rows]
    assert not any("building" in m or "verifier score" in m for m in logs)
    assert [m for m in logs if "training (" in m] == [m for m in logs if m.startswith("[src-worked] training (")] != []
    after = eval_mtimes()
    assert {cid for cid in ids if after[cid] != before[cid]} == {"src-wrong", "src-worked"}
    assert (out / "corpora" / "src-worked" / "adapter" / "adapter_config.json").is_file()
    nll = {r["id"]: r["nll"] for r in result.rows}
    assert {r["id"]: r["nll"] for r in again.rows} == pytest.approx(nll, rel=1e-3)

    # A changed verifier setting re-verifies every corpus but trains nothing.
    logs.clear()
    run_correlation(study_task, out, _config(tiny_model, sample=6), log=logs.append)
    assert sum(1 for m in logs if "verifier score" in m) == 6 and not any("training (" in m for m in logs)

    # A longer generation budget re-evaluates every corpus from its kept LoRA adapter: nothing is trained again, and
    # the NLL (teacher-forced, blind to the budget) is the merged model's.
    logs.clear()
    longer = run_correlation(study_task, out, _config(tiny_model, sample=6, max_new_tokens=6), log=logs.append)
    assert not any("training (" in m for m in logs)
    for cid in ids:
        saved_eval = json.loads((out / "corpora" / cid / "eval.json").read_text())
        assert saved_eval["max_new_tokens"] == 6 and saved_eval["model_path"].endswith("adapter")
    assert [r["nll"] for r in longer.rows] == pytest.approx([r["nll"] for r in again.rows], rel=1e-3)
    run_correlation(study_task, out, _config(tiny_model, sample=6), log=logs.append)  # back to the CLI's settings

    # The CLI with the same settings finds everything done and prints the table.
    before = eval_mtimes()
    res = CliRunner().invoke(app, ["correlate", str(study_task), "--out", str(out), "--base", str(tiny_model),
                                   *CLI_ARGS])
    assert res.exit_code == 0, res.output
    assert "| src-good | source | 12 |" in res.output and "mean Pearson" in res.output
    assert eval_mtimes() == before and "training (" not in res.output
    res = CliRunner().invoke(app, ["correlate", str(study_task), "--out", str(out), "--source", "missing"])
    assert res.exit_code == 2 and "unknown source" in res.output


def test_accuracy_spread_says_when_the_benchmark_cannot_tell_corpora_apart(tmp_path):
    from scipy import stats

    floor = [{"accuracy": k / 200, "eval_n": 200} for k in (2, 3, 1, 0, 5, 4, 6)]  # 0-3% right: chance
    apart = [{"accuracy": k / 200, "eval_n": 200} for k in (90, 25, 70, 0, 40)]
    low, high = score_spread(floor), score_spread(apart)
    assert low["p"] > 0.05 and high["p"] < 1e-6 and high["corpora"] == 5 and high["dof"] == 4
    table = [[k, 200 - k] for k in (90, 25, 70, 0, 40)]
    assert high["chi2"] == pytest.approx(stats.chi2_contingency(table, correction=False).statistic)
    assert score_spread([{"accuracy": 0.0, "eval_n": 50}] * 3)["p"] == 1.0  # nobody right: no spread
    assert score_spread([{"accuracy": 0.4137, "eval_n": 50}] * 3) is None  # a graded score, not items right
    assert score_spread(floor[:1]) is None
    rows = [{"id": f"c{i}", "kind": "source", "records": 5, "verifier": 0.1 * i, "length_tokens": 1.0,
             "length_chars": 1.0, "relevance": 0.1, "nll": 1.0, "neg_nll": -1.0, "train_loss": 1.0, **r}
            for i, r in enumerate(floor)]
    corr = correlation_table(rows)
    result = StudyResult(out=tmp_path, rows=rows, base=None, correlations=corr,
                         summary={p: {"mean_pearson": 0.0, "mean_spearman": 0.0} for p in corr}
                         | {"paper_mean_pearson": 0.59, "accuracy_spread": low})
    assert "cannot rank them, and correlations with accuracy are noise" in render_table(result)


def test_render_table_marks_undefined_correlations(tmp_path):
    rows = [{"id": f"c{i}", "kind": "source", "records": 5, "verifier": 0.5, "length_tokens": float(i),
             "length_chars": float(i), "relevance": 0.1 * i, "accuracy": 0.1 * i, "nll": 2.0 - i, "neg_nll": i - 2.0,
             "train_loss": 1.0} for i in range(4)]
    corr = correlation_table(rows)
    result = StudyResult(out=tmp_path, rows=rows, base=None, correlations=corr,
                         summary={p: {"mean_pearson": float("nan"), "mean_spearman": float("nan")}
                                  for p in corr} | {"paper_mean_pearson": 0.59}, notes=["verifier: constant"])
    text = render_table(result)
    assert "| verifier score (composite) | — (—) |" in text and "note: verifier: constant" in text
    assert "(the paper's protocol; its mean over 6 tasks is 0.59): composite verifier reward —, paper-style" in text
