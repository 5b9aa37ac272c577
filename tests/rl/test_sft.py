"""Cold-start SFT of the policy: demonstrations become chat records (errors name the line), `datachef rl sft` trains a
tiny random model on them end to end and measures unconstrained executability before and after."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from datachef.chef import ChefRecipe
from datachef.chef.compact import SYSTEM as POLICY_SYSTEM
from datachef.chef.compact import compact_prompt, from_chef_recipe
from datachef.cli import app
from datachef.errors import DatachefError
from datachef.rl.sft import demos_to_corpus, sft_config

from ..chef.conftest import kitchen  # noqa: F401 - the gsm8k kitchen fixture
from ..chef.test_typed import GOOD


@pytest.fixture
def demos(kitchen, tmp_path):  # noqa: F811
    prompt = compact_prompt(kitchen["task"], kitchen["profiles"], kitchen["dev"])
    answers = [from_chef_recipe(ChefRecipe.model_validate({**GOOD, "system_prompt": None, "dedup": d}),
                                kitchen["profiles"]) for d in ("near", "exact", "none")]
    path = tmp_path / "demos.jsonl"
    path.write_text("".join(json.dumps({"prompt": prompt, "completion": a, "reward": 0.9, "teacher": "probe"}) + "\n"
                            for a in answers))
    return path


def test_demonstrations_become_chat_records(demos, tmp_path):
    assert demos_to_corpus(demos, tmp_path / "corpus.jsonl") == 3
    record = json.loads((tmp_path / "corpus.jsonl").read_text().splitlines()[0])
    roles = [m["role"] for m in record["messages"]]
    assert roles == ["system", "user", "assistant"] and record["messages"][0]["content"] == POLICY_SYSTEM
    assert json.loads(record["messages"][2]["content"])["dedup"] == "near"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(demos.read_text() + '{"prompt": "p"}\n')
    with pytest.raises(DatachefError, match=r"bad.jsonl:4: not a demonstration"):
        demos_to_corpus(bad, tmp_path / "c2.jsonl")
    assert not (tmp_path / "c2.jsonl").exists()


def test_cpu_preset_leaves_room_for_prompt_and_answer():
    c = sft_config("cpu")
    assert c.lora and c.max_seq_len >= 1024 and c.max_samples is None
    assert sft_config("cpu", epochs=1.0).epochs == 1.0


def test_rl_sft_end_to_end_with_a_tiny_model(kitchen, demos, tmp_path):  # noqa: F811
    pytest.importorskip("trl")
    from datachef.llm.models import tiny_random_model

    base = tiny_random_model(tmp_path / "tiny")
    out = tmp_path / "sft"
    res = CliRunner(env={"COLUMNS": "200"}).invoke(app, [
        "rl", "sft", "--demos", str(demos), "--out", str(out), "--base", str(base), "--max-steps", "2",
        "--eval-task", str(kitchen["dir"] / "task.yaml"), "--eval-n", "2", "-q"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "sft.json").read_text())
    assert report["demonstrations"] == 3 and report["steps"] == 2
    for key in ("executability_before", "executability_after"):
        assert report[key]["answers"] == 2 and 0.0 <= report[key]["rate"] <= 1.0
    assert (out / "final" / "config.json").is_file()
    assert "unconstrained executability" in res.output
