"""GRPO (`datachef rl grpo`) with a tiny random model: `rl demos` -> `rl sft` -> `rl grpo` -> `rl export` end to end,
per-step metrics and the report, resume after a stop, constrained rollouts (every completion a recipe, forced
tokens out of the loss) and the arguments that must be refused."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datachef.chef.compact import parse_compact
from datachef.cli import app

from ..chef.conftest import kitchen  # noqa: F401 - the gsm8k kitchen fixture

pytest.importorskip("trl")
RUNNER = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def setup(kitchen, tmp_path_factory):  # noqa: F811
    """Two task instances (the kitchen's task twice, under two names), a tiny model and a 2-step cold start."""
    from datachef.llm.models import tiny_random_model

    root = tmp_path_factory.mktemp("grpo")
    folder = root / "instances"
    shutil.copytree(kitchen["dir"] / "sources", folder / "sources")  # the task's sources/*.jsonl
    tasks = []
    for name in ("a", "b"):
        tasks.append(folder / f"gsm8k--{name}.yaml")
        shutil.copy(kitchen["dir"] / "task.yaml", tasks[-1])
    res = RUNNER.invoke(app, ["rl", "demos", "--task", str(tasks[0]), "--out", str(root / "demos"), "--sample", "4",
                              "--threshold", "0", "--per-instance", "2", "-q"])
    assert res.exit_code == 0, res.output
    demos = root / "demos" / "demos.jsonl"
    assert demos.read_text().strip()
    base = tiny_random_model(root / "tiny")
    res = RUNNER.invoke(app, ["rl", "sft", "--demos", str(demos), "--out", str(root / "sft"), "--base", str(base),
                              "--max-steps", "2", "-q"])
    assert res.exit_code == 0, res.output
    return {"root": root, "tasks": tasks, "base": base, "sft": root / "sft"}


def grpo(setup, out, *extra):
    args = ["rl", "grpo", "--out", str(out), "--executor", "local", "--sample", "4", "--group-size", "2",
            "--prompts-per-step", "1", "--max-completion-tokens", "24", "--save-steps", "1", "-q"]
    for t in setup["tasks"]:
        args += ["--task", str(t)]
    return RUNNER.invoke(app, args + list(extra))


def test_demos_sft_grpo_end_to_end(setup):
    out = setup["root"] / "grpo"
    res = grpo(setup, out, "--sft", str(setup["sft"]), "--max-steps", "2")
    assert res.exit_code == 0, res.output
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    for m in metrics:
        assert set(m["seconds"]) == {"generation", "reward", "update", "total"} and m["seconds"]["total"] > 0
        assert 0.0 <= m["executability"] <= 1.0 and m["reward_mean"] is not None and m["kl"] is not None
    rollouts = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    assert len(rollouts) == 4 and {r["step"] for r in rollouts} == {1, 2}
    # A 24-token completion of a 2-step model is no recipe: the format penalty, never an exception.
    assert all(r["reward"] == -0.5 and r["status"] == "format_violation" for r in rollouts)
    run = json.loads((out / "grpo.json").read_text())
    assert run["status"] == "done" and run["steps"] == 2 and run["cold_start"] == str(setup["sft"])
    assert run["start"] == str(setup["sft"] / "final")
    assert (out / "final" / "config.json").is_file() and (out / "adapter" / "adapter_config.json").is_file()
    page = (out / "report.html").read_text()
    assert "<svg" in page and "Reward over steps" in page and "generation" in page
    assert "2 GRPO steps" in res.output

    # The policy exported as an adapter over its base: SFT and GRPO changes together, with the runs behind them.
    res = RUNNER.invoke(app, ["rl", "export", str(out / "final"), "--out", str(out / "small"), "--base",
                              str(setup["base"]), "--rank", "64", "--dtype", "float32"])
    assert res.exit_code == 0, res.output
    export = json.loads((out / "small" / "export.json").read_text())
    assert export["rank"] == 64 and export["relative_error"] < 1e-3
    assert [Path(r["file"]).name for r in export["trained_by"]] == ["grpo.json", "sft.json", "train.json"]
    assert "instances" not in export["trained_by"][0] and export["trained_by"][0]["steps"] == 2
    _same_model(out / "final", setup["base"], out / "small")


def _same_model(final, base, adapter):
    import torch
    from transformers import AutoModelForCausalLM

    from datachef.llm.lora import merge_adapter

    merged = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    merge_adapter(merged, adapter)
    ids = torch.tensor([[1, 17, 300, 4000, 5]])
    with torch.no_grad():
        want = AutoModelForCausalLM.from_pretrained(str(final), dtype=torch.float32)(ids).logits
        assert torch.allclose(merged(ids).logits, want, atol=1e-3)


def test_resume_goes_on_from_the_last_checkpoint(setup):
    out = setup["root"] / "grpo-resume"
    assert grpo(setup, out, "--no-cold-start", "--base", str(setup["base"]), "--max-steps", "1").exit_code == 0
    again = grpo(setup, out, "--no-cold-start", "--base", str(setup["base"]), "--max-steps", "2")
    assert again.exit_code != 0 and "--resume" in again.output  # checkpoints are not overwritten silently
    res = grpo(setup, out, "--no-cold-start", "--base", str(setup["base"]), "--max-steps", "2", "--resume")
    assert res.exit_code == 0, res.output
    run = json.loads((out / "grpo.json").read_text())
    assert run["steps"] == 2 and run["resumed_from"].endswith("checkpoint-1") and run["cold_start"] is None
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    changed = grpo(setup, out, "--no-cold-start", "--base", str(setup["base"]), "--max-steps", "3", "--resume",
                   "--lr", "0.1")
    assert changed.exit_code != 0 and "settings" in changed.output


def test_constrained_rollouts_are_recipes_and_forced_tokens_leave_the_loss(setup, kitchen):  # noqa: F811
    import torch

    from datachef.rl.grpo import GRPOSettings, StepLog, constrained_rollout, rollout_rows
    from datachef.rl.reward import RolloutTask
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows, schemas = rollout_rows([RolloutTask.load(setup["tasks"][0])])
    tok = AutoTokenizer.from_pretrained(setup["base"])
    model = AutoModelForCausalLM.from_pretrained(setup["base"], dtype=torch.float32)

    class Trainer:  # what rollout_func reads from TRL's trainer
        processing_class = tok

        def __init__(self):
            self.model = model
            self.accelerator = type("A", (), {"unwrap_model": staticmethod(lambda m: m)})()

    steps = StepLog(setup["root"])
    out = constrained_rollout(schemas, GRPOSettings(max_completion_tokens=120), steps)([rows[0]["prompt"]] * 3,
                                                                                        Trainer())
    assert len(out["completion_ids"]) == 3 and steps.generation > 0
    for ids, logps, mask in zip(out["completion_ids"], out["logprobs"], out["env_mask"]):
        assert len(ids) == len(logps) == len(mask)
        assert all(lp <= 0 for lp in logps)
        text = tok.decode(ids, skip_special_tokens=True)
        parse_compact(text, kitchen["task"], kitchen["profiles"], 0, 0)  # a recipe, by construction
        assert 0 in mask and 1 in mask  # most of '{"use":[{"o":' is forced; option numbers and sizes are choices


def test_arguments_refused(setup):
    out = setup["root"] / "refused"
    res = grpo(setup, out, "--max-steps", "1")
    assert res.exit_code != 0 and "--no-cold-start" in res.output  # a cold start or the ablation, explicitly
    res = grpo(setup, out, "--no-cold-start", "--sft", str(setup["sft"]), "--max-steps", "1")
    assert res.exit_code != 0 and "drop --sft" in res.output
    res = grpo(setup, out, "--sft", str(setup["sft"]), "--prompts-per-step", "3", "--max-steps", "1")
    assert res.exit_code != 0 and "per step" in res.output
    assert not (out / "checkpoints").exists()
