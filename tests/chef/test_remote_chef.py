"""`cook` with a remote chef: a real OpenAI-compatible HTTP server on 127.0.0.1 (datachef's own, wrapping a tiny
random Llama under xgrammar-constrained decoding), reached through `OpenAIClient` and the real `openai` library.

The tiny model writes schema-valid but random recipes, so what a candidate becomes (ok, invalid, failed) is not
asserted, only that each one ends in a well-formed state. The judge is a deterministic rubric client (in-process for
the library test, behind a second server for the CLI test), so nothing here needs the 135M model.

A structured reply cut off by max_tokens, or one with raw control characters inside strings (xgrammar 0.2.8 lets
strings with maxLength contain U+0000-U+001F), must become an invalid draft over HTTP just as in-process, never an
exception that ends the cook.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datachef.chef import Chef, ChefConfig
from datachef.chef.cook import Cook, CookConfig
from datachef.errors import DatachefError
from datachef.llm import make_client
from datachef.llm.base import Completion, LLMClient, LLMError

CHEF_CONTEXT = 8192  # SmolLM2's context; the chef's prompt alone is ~4.5k tokens on the gsm8k kitchen
# The recipe schema bounds every string and allows no free whitespace, so a typed recipe is finite; the tiny model's
# run 200-600 tokens. 2048 leaves room, so that no answer is cut off (see test_cut_off_structured_answer_...).
CHEF_MAX_TOKENS = 2048


class RubricJudge(LLMClient):
    """A deterministic structured judge: Pass for a worked solution with a '#### N' line, Task mismatch otherwise.
    Counts the instances it graded and keeps the schemas it was asked to follow."""

    backend = "test"

    def __init__(self, model: str = "rubric-judge"):
        super().__init__(model)
        self.graded = 0
        self.schemas: list[dict | None] = []

    def _chat_batch(self, batch, params, json_schema):
        self.schemas.append(json_schema)
        out = []
        for msgs in batch:
            text = msgs[-1]["content"].split("=== Instance to grade ===")[1].split("=== End of instance ===")[0]
            grade = "Pass" if "####" in text else "Task mismatch"
            out.append(Completion(json.dumps({"reference_answer": "", "grade": grade, "reason": "scripted"})))
        self.graded += len(batch)
        return out


def _set_context(model: Path, tokens: int) -> None:
    """`tiny_random_model` saves max_position_embeddings=2048, shorter than the chef's prompt. Llama's positions are
    rotary (no learned position table), so raising the number in config.json is all a longer context takes."""
    cfg = json.loads((model / "config.json").read_text())
    cfg["max_position_embeddings"] = tokens
    (model / "config.json").write_text(json.dumps(cfg, indent=2))


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """The tiny random Llama of tests/llm/conftest.py (SmolLM2 tokenizer and chat template) twice: with SmolLM2's
    context, and with the 2048 tokens it is saved with. (That conftest's fixture is not visible from tests/chef.)"""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("xgrammar")
    from datachef.llm.models import tiny_random_model

    short = tiny_random_model(tmp_path_factory.mktemp("tiny-chef-2k"))
    wide = tmp_path_factory.mktemp("tiny-chef") / "model"
    shutil.copytree(short, wide)
    _set_context(wide, CHEF_CONTEXT)
    return wide, short


@pytest.fixture(scope="module")
def chef_server(tiny_dirs):
    """The tiny model behind datachef's OpenAI-compatible server. The wrapped client has no request cache, so its
    usage counts exactly the requests that reached it over HTTP."""
    from datachef.llm.local import TransformersClient
    from datachef.llm.server import serve

    local = TransformersClient(str(tiny_dirs[0]), num_threads=1)
    server, thread, url = serve(local)
    yield local, url
    server.close()
    thread.join(timeout=5)


def _check_candidates(summary: dict, out: Path) -> list[dict]:
    """Every candidate is ok with a score in [0, 1], or invalid/failed with an error; status.json says the same."""
    for c in summary["candidates"]:
        if c["status"] == "ok":
            assert isinstance(c["score"], float) and 0.0 <= c["score"] <= 1.0, c
            assert c["records"] > 0 and (out / "candidates" / c["id"] / "run" / "verify.json").is_file()
        else:
            assert c["status"] in ("invalid", "failed"), c
            assert isinstance(c["error"], str) and c["error"].strip(), c
        on_disk = json.loads((out / "candidates" / c["id"] / "status.json").read_text())
        assert on_disk["status"] == c["status"] and on_disk["error"] == c["error"]
    return [c for c in summary["candidates"] if c["status"] == "ok"]


def _check_best(summary: dict, out: Path, ok: list[dict]) -> None:
    assert (out / "cook.json").is_file() and (out / "report.html").is_file()
    if ok:
        assert summary["best"]["status"] == "ok"
        assert summary["best"]["score"] == max(c["score"] for c in ok)
        for f in ("data.jsonl", "verify.json", "recipe.yaml", "manifest.json"):
            assert (out / "best" / f).is_file(), f
        assert (out / "best" / "data.jsonl").read_text().strip()
    else:
        assert summary["best"] is None and not (out / "best").exists()


def test_cook_with_remote_chef_over_http(kitchen, chef_server, tmp_path):
    local, url = chef_server
    before = local.usage.as_dict()
    chef_llm = make_client("openai", model=local.model, base_url=url, cache_dir=tmp_path / "llm", max_retries=0,
                           timeout=120)
    judge = RubricJudge()
    out = tmp_path / "cook"
    chef = Chef(chef_llm, ChefConfig(max_tokens=CHEF_MAX_TOKENS, max_repairs=1, seed=0))
    cook = Cook(kitchen["task"], out, chef, judge, CookConfig(n=2, search_budget=1, sample=10,
                                                              cache_dir=tmp_path / "steps"))
    try:
        summary = cook.run()
    except DatachefError as e:  # no candidate produced data: cook.json and the report are still written
        assert "no candidate recipe produced data" in str(e)
        summary = json.loads((out / "cook.json").read_text())

    # The chef's requests went over HTTP: the server's model answered exactly the client's uncached requests.
    usage = chef_llm.usage.as_dict()
    served = {k: local.usage.as_dict()[k] - before[k] for k in before}
    assert usage["requests"] >= 2 and usage["cached_requests"] == 0
    assert served["requests"] == usage["requests"]
    assert served["completion_tokens"] == usage["completion_tokens"] > 0
    assert summary["usage"]["chef"] == usage and summary["chef_model"] == f"openai:{local.model}"

    assert summary["n"] == 2 and summary["search"]["tried"] <= 1
    ok = _check_candidates(summary, out)
    assert summary["executable"] == sum(c["origin"] == "sample" for c in ok)
    _check_best(summary, out, ok)
    if ok:  # the in-process judge graded what the verifier did not decide by gates or checkers
        judged = sum(i["decided_by"] == "judge" for c in ok
                     for i in json.loads((out / "candidates" / c["id"] / "run" / "verify.json").read_text())
                     ["instances"])
        assert judge.graded == judged


def test_cli_cook_with_remote_chef_and_remote_judge(kitchen, chef_server, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from datachef.cli import app
    from datachef.llm.server import serve

    local, chef_url = chef_server
    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path / "cache"))  # the CLI's request and step caches
    judge = RubricJudge("rubric-judge-1")
    judge_server, judge_thread, judge_url = serve(judge)
    before = local.usage.requests
    out = tmp_path / "cook"
    try:
        result = CliRunner().invoke(app, [
            "cook", str(kitchen["dir"] / "task.yaml"), "--chef", "openai", "--model", local.model,
            "--base-url", chef_url, "--judge", "openai", "--judge-model", "rubric-judge-1",
            "--judge-base-url", judge_url, "--n", "2", "--search-budget", "0", "--sample", "5", "--out", str(out)])
    finally:
        judge_server.close()
        judge_thread.join(timeout=5)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code in (0, 2), output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)

    summary = json.loads((out / "cook.json").read_text())
    assert summary["n"] == 2 and summary["search"]["tried"] == 0
    assert summary["chef_model"] == f"openai:{local.model}"
    assert local.usage.requests - before == summary["usage"]["chef"]["requests"] >= 2
    ok = _check_candidates(summary, out)
    _check_best(summary, out, ok)
    if result.exit_code == 0:
        assert ok and "executability" in result.output and "DVS_avg@2" in result.output
    else:
        assert not ok and "no candidate recipe produced data" in output
    # The judge server graded, in structured mode, exactly the instances the verifier left to the judge.
    judged = sum(i["decided_by"] == "judge" for c in ok
                 for i in json.loads((out / "candidates" / c["id"] / "run" / "verify.json").read_text())["instances"])
    assert judge.graded == judged
    if judged:
        from datachef.verifier.judge import JUDGE_SCHEMA

        assert all(s == JUDGE_SCHEMA for s in judge.schemas)
        assert summary["usage"]["judge"]["requests"] == judged


def test_chef_endpoint_refusing_the_prompt_stops_cook(kitchen, tiny_dirs, tmp_path):
    """A chef whose context is shorter than the prompt: the server refuses the request (today a 500 that does not
    say why), and `cook` stops with an LLMError naming the endpoint, as Chef.draft intends for an unusable chef,
    instead of counting N invalid recipes. Nothing is published."""
    from datachef.llm.local import TransformersClient
    from datachef.llm.server import serve

    short = TransformersClient(str(tiny_dirs[1]), num_threads=1)
    server, thread, url = serve(short)
    try:
        chef_llm = make_client("openai", model=short.model, base_url=url, cache_dir=False, max_retries=0)
        cook = Cook(kitchen["task"], tmp_path / "cook", Chef(chef_llm), RubricJudge(),
                    CookConfig(n=2, search_budget=0, sample=5, cache_dir=tmp_path / "steps"))
        with pytest.raises(LLMError, match=r"127\.0\.0\.1:\d+/v1"):
            cook.run()
    finally:
        server.close()
        thread.join(timeout=5)
    assert short.usage.requests == 2  # both drafts reached the server (batched) and were refused there
    assert not (tmp_path / "cook" / "best").exists() and not (tmp_path / "cook" / "cook.json").exists()


def test_cut_off_structured_answer_is_an_invalid_draft(kitchen, chef_server, tmp_path):
    """With the local backend a recipe cut off by the token limit is an invalid draft ("cut off"), to be repaired;
    over HTTP it must be the same, not an exception that ends the cook."""
    local, url = chef_server
    chef_llm = make_client("openai", model=local.model, base_url=url, cache_dir=False, max_retries=0)
    cook = Cook(kitchen["task"], tmp_path / "cook", Chef(chef_llm, ChefConfig(max_tokens=16, max_repairs=0)),
                RubricJudge(), CookConfig(n=1, search_budget=0, sample=5, cache_dir=tmp_path / "steps"))
    with pytest.raises(DatachefError) as e:
        cook.run()
    assert not isinstance(e.value, LLMError)
    assert "no candidate recipe produced data" in str(e.value)
    (c,) = json.loads((tmp_path / "cook" / "cook.json").read_text())["candidates"]
    assert c["status"] == "invalid" and "cut off" in c["error"]
