"""The CLI surface: every command's help and argument errors (exit code 2 with a message), the flags generated from
TrainConfig, the choice lists, and what schema, ops, run, inspect and kitchen print. Nothing here loads a model."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import get_args, get_type_hints

import pytest
import typer
from pydantic import Field, create_model
from typer.testing import CliRunner

from datachef.adapt.train import PROFILES, TrainConfig
from datachef.cli import app
from datachef.cli_options import (ChefForm, ExecutorName, Format, RewardKind, SchemaKind, config_options,
                                  with_options)

from .conftest import chat_after, math_rows

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that rich neither wraps messages nor cuts flag names


def test_help_lists_every_command():
    out = runner.invoke(app, ["--help"]).output
    for cmd in ["inspect", "run", "schema", "ops", "kitchen"]:
        assert cmd in out


def test_schema_recipe_types_op_args(make_task):
    res = runner.invoke(app, ["schema", "recipe"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    variants = schema["properties"]["steps"]["anyOf"][0]["items"]["oneOf"]
    by_op = {v["properties"]["op"]["const"]: v for v in variants}
    assert "weights" in by_op["mix"]["properties"]["args"]["properties"]
    res = runner.invoke(app, ["schema", "recipe", "--task", str(make_task({"math": math_rows(2)}))])
    schema = json.loads(res.output)
    load = [v for v in schema["properties"]["steps"]["anyOf"][0]["items"]["oneOf"]
            if v["properties"]["op"]["const"] == "load"][0]
    assert load["properties"]["args"]["properties"]["source"]["enum"] == ["math"]
    assert json.loads(runner.invoke(app, ["schema", "task"]).output)["title"] == "TaskSpec"
    assert runner.invoke(app, ["schema", "nope"]).exit_code == 2


def test_ops_lists_catalogue():
    res = runner.invoke(app, ["ops"])
    assert res.exit_code == 0 and "dedup_near" in res.output and "to_chat" in res.output
    assert "weights" in runner.invoke(app, ["ops", "mix"]).output


def test_run_and_errors(make_task, write_recipe, tmp_path):
    task = make_task({"math": math_rows(5)})
    recipe = write_recipe([{"id": "src", "op": "load", "args": {"source": "math"}}, chat_after("src")])
    res = runner.invoke(app, ["run", str(recipe), "--task", str(task), "--out", str(tmp_path / "o"),
                              "--cache-dir", str(tmp_path / "c"), "-q"])
    assert res.exit_code == 0, res.output
    assert "wrote 5 records" in res.output
    bad = write_recipe([{"id": "src", "op": "lod", "args": {"source": "math"}}, chat_after("src")], name="bad.yaml")
    res = runner.invoke(app, ["run", str(bad), "--task", str(task), "--out", str(tmp_path / "o2"),
                              "--cache-dir", str(tmp_path / "c"), "-q"])
    assert res.exit_code == 2 and "unknown op 'lod'" in res.output and "bad.yaml" in res.output
    res = runner.invoke(app, ["run", str(recipe), "--task", str(tmp_path / "missing.yaml"), "--out",
                              str(tmp_path / "o3")])
    assert res.exit_code == 2 and "missing.yaml: file not found" in res.output


def test_inspect_prints_profiles(make_task):
    task = make_task({"math": math_rows(7)})
    res = runner.invoke(app, ["inspect", str(task)])
    assert res.exit_code == 0, res.output
    assert "math" in res.output and "problem" in res.output and "solution" in res.output
    data = json.loads(runner.invoke(app, ["inspect", str(task), "--json"]).output)
    assert data[0]["rows"] == 7 and data[0]["rows_exact"] is True


def test_kitchen_commands(tmp_path):
    res = runner.invoke(app, ["kitchen", "list"])
    assert res.exit_code == 0 and "gsm8k" in res.output
    res = runner.invoke(app, ["kitchen", "prepare", "nope", "--out", str(tmp_path / "k")])
    assert res.exit_code == 2 and "gsm8k" in res.output


# ------------------------------------------------------------------------------------------- every command's surface

HELP = {
    "inspect": ["--examples", "--scan", "--json"],
    "run": ["--task", "--out", "--format", "--cache-dir", "--seed", "--llm", "--model", "--base-url", "--executor",
            "--address", "--quiet"],
    "serve": ["--kind", "--model", "--base-url", "--host", "--port", "--no-cache"],
    "schema": ["task|recipe|record|manifest", "--task"],
    "ops": ["--json"],
    "verify": ["--task", "--judge", "--model", "--base-url", "--sample", "--seed"],
    "cook": ["--out", "--kitchen", "--n", "--chef", "--model", "--base-url", "--coder-model", "--decoupled", "--mode",
             "--free", "--search-budget", "--judge", "--judge-model", "--judge-base-url", "--sample", "--threads",
             "--cache-dir", "--executor", "--address", "--quiet"],
    "train": ["--out", "--base", "--profile", "--resume", "--lora", "--full", "--bf16", "--fp32", "--epochs", "--lr",
              "--max-samples", "--lora-targets"],
    "eval": ["--task", "--out", "--limit", "--batch-size", "--max-new-tokens"],
    "correlate": ["--out", "--k", "--budget", "--base", "--profile", "--epochs", "--lr", "--max-seq-len",
                  "--eval-limit", "--recipe", "--source", "--judge", "--judge-model", "--judge-base-url", "--threads",
                  "--keep-checkpoints", "--cache-dir"],
    "kitchen list": ["built-in kitchens"],
    "kitchen prepare": ["--out", "--seed", "--force"],
    "chef-eval": ["--out", "--split", "--pool", "--task", "--n", "--chef", "--model", "--base-url", "--mode", "--judge",
                  "--sample", "--reward", "--no-expert", "--jobs", "--seed", "--threads", "--executor", "--address"],
    "pool list": ["--json"],
    "pool prepare": ["--out", "--all", "--split", "--hub", "--seed", "--force"],
    "pool sample": ["--n", "--out", "--tasks-dir", "--seed", "--task-seed"],
    "pool fetch": ["data packages"],
    "pool check": ["leak check", "planted"],
    "rl demos": ["--out", "--instances", "--task", "--teacher", "--threshold", "--per-instance", "--judge",
                 "--executor", "demos.jsonl"],
    "rl sft": ["--demos", "--out", "--base", "--profile", "--epochs", "--lr", "--max-steps", "--eval-task",
               "--eval-n", "--resume", "sft.json"],
    "rl grpo": ["--instances", "--task", "--sft", "--no-cold-start", "--base", "--profile", "--group-size",
                "--prompts-per-step", "--lr", "--beta", "--epsilon", "--temperature", "--max-steps", "--decoding",
                "--reward", "--executor", "--resume", "metrics.jsonl", "report.html"],
    "rl export": ["--out", "--base", "--rank", "--dtype", "export.json", "PEFT"],
}


def _commands(group=None, prefix=""):
    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_help_table_covers_every_command():
    assert sorted(_commands()) == sorted(HELP)


@pytest.mark.parametrize("command", sorted(HELP))
def test_help_mentions_the_main_options(command):
    res = runner.invoke(app, [*command.split(), "--help"])
    assert res.exit_code == 0, res.output
    for text in HELP[command]:
        assert text in res.output, f"{command} --help does not mention {text}"


@pytest.fixture
def bad_calls(make_task, tmp_path):
    """(arguments, a phrase the message must contain): an unknown choice, a missing file, a non-integer, a wrong
    combination of LLM flags, for every command. None of them gets as far as loading a model."""
    task = str(make_task({"math": math_rows(2)}))
    missing, out = str(tmp_path / "missing.yaml"), str(tmp_path / "out")
    return {
        "inspect": [([missing], "missing.yaml: file not found"), ([task, "--examples", "x"], "'--examples'")],
        "run": [(["r.yaml", "--task", task, "--out", out, "--format", "csv"], "'csv' is not one of 'messages'"),
                (["r.yaml", "--task", missing, "--out", out], "missing.yaml: file not found"),
                (["r.yaml", "--task", task, "--out", out, "--llm", "claude"], "'--llm'")],
        "serve": [(["--kind", "ollama"], "'ollama' is not one of 'local', 'openai'"),
                  (["--base-url", "http://127.0.0.1:1/v1"], "error: --base-url is for --kind openai"),
                  (["--port", "x"], "'--port'")],
        "schema": [(["nope"], "'nope' is not one of 'task'"), (["recipe", "--task", missing], "file not found")],
        "ops": [(["nope"], "error: unknown op 'nope'")],
        "verify": [([out, "--task", task, "--judge", "claude"], "'claude' is not one of 'local', 'openai'"),
                   ([out, "--task", task, "--judge", "openai", "--model", "m"],
                    "error: --judge openai needs --model and --base-url"),
                   ([out, "--task", task, "--sample", "x"], "'--sample'")],
        "cook": [(["--mode", "yaml", "--out", out], "'yaml' is not one of 'typed', 'python'"),
                 (["--chef", "openai", "--out", out], "error: --chef openai needs --model and --base-url"),
                 (["--judge-base-url", "http://127.0.0.1:1/v1", "--out", out],
                  "error: --judge-base-url is for --judge openai"),
                 (["--threads", "-1", "--out", out], "'--threads'"), (["--n", "x"], "'--n'"),
                 (["--mode", "compact", "--decoupled", "--out", out], "the compact form is written in one answer")],
        "train": [(["d.jsonl", "--out", out, "--profile", "tpu"], "'tpu' is not one of"),
                  (["d.jsonl", "--out", out, "--epochs", "x"], "'--epochs'"),
                  (["d.jsonl", "--out", out, "--lr", "0"], "error: invalid training option: lr"),
                  (["d.jsonl"], "Missing option '--out'")],
        "eval": [(["smollm2", "--task", missing], "missing.yaml: file not found"),
                 (["smollm2", "--task", task, "--limit", "x"], "'--limit'")],
        "correlate": [([task, "--out", out, "--judge", "claude"], "'claude' is not one of"),
                      ([task, "--out", out, "--k", "1"], "error: 1 validation error for CorrelateConfig"),
                      ([task, "--out", out, "--judge", "openai"],
                       "error: --judge openai needs --judge-model and --judge-base-url"),
                      ([task, "--out", out, "--budget", "x"], "'--budget'")],
        "kitchen list": [(["extra"], "unexpected extra argument")],
        "kitchen prepare": [(["nope", "--out", out], "gsm8k"), (["gsm8k"], "Missing option '--out'"),
                            (["gsm8k", "--out", out, "--seed", "x"], "'--seed'")],
        "chef-eval": [(["--chef", "claude", "--out", out], "'claude' is not one of 'local', 'openai', 'random'"),
                      (["--split", "dev", "--out", out], "'dev' is not one of"),
                      (["--chef", "openai", "--task", task, "--out", out],
                       "error: --chef openai needs --model and --base-url"),
                      (["--task", missing, "--out", out], "missing.yaml: file not found"),
                      (["--n", "0", "--out", out], "'--n'")],
        "pool list": [(["extra"], "unexpected extra argument")],
        "pool prepare": [(["no-such-task", "--out", out], "error: unknown pool task 'no-such-task'"),
                         (["--out", out], "error: give exactly one of"),
                         (["--split", "dev", "--out", out], "'dev' is not one of")],
        "pool sample": [(["--out", out], "Missing option '--n'"), (["--n", "0", "--out", out], "'--n'")],
        "pool fetch": [(["extra"], "unexpected extra argument")],
        "pool check": [([str(tmp_path)], "no prepared training and held-out tasks"), ([], "Missing argument")],
        "rl demos": [(["--out", out], "give --instances DIR or at least one --task FILE"),
                     (["--task", "t.yaml", "--teacher", "oracle", "--out", out], "unknown teacher 'oracle'"),
                     (["--task", "t.yaml", "--threshold", "x", "--out", out], "'--threshold'")],
        "rl sft": [(["--out", out], "Missing option '--demos'"),
                   (["--demos", str(tmp_path / "none.jsonl"), "--out", out], "demonstrations not found"),
                   (["--demos", "d.jsonl", "--profile", "tpu", "--out", out], "'tpu' is not one of")],
        "rl grpo": [(["--out", out], "give --instances DIR or at least one --task FILE"),
                    (["--task", "t.yaml", "--out", out], "--no-cold-start to start from --base"),
                    (["--task", "t.yaml", "--sft", str(tmp_path), "--out", out], "holds no model"),
                    (["--task", "t.yaml", "--no-cold-start", "--decoding", "greedy", "--out", out],
                     "'greedy' is not one of"),
                    (["--task", "t.yaml", "--no-cold-start", "--reward", "dense", "--out", out],
                     "'dense' is not one of")],
        "rl export": [([], "Missing argument"), ([str(tmp_path), "--out", out], "no config.json"),
                      ([str(tmp_path), "--rank", "0", "--out", out], "'--rank'"),
                      ([str(tmp_path), "--dtype", "int8", "--out", out], "'int8' is not one of")],
    }


@pytest.mark.parametrize("command", sorted(HELP))
def test_bad_arguments_exit_2_with_a_message(command, bad_calls, tmp_path):
    for args, phrase in bad_calls[command]:
        res = runner.invoke(app, [*command.split(), *args])
        assert res.exit_code == 2, (args, res.output)
        assert phrase in res.output, (args, res.output)
        assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()  # rejected before anything was written


def test_choices_are_the_librarys():
    from datachef.adapt.correlate import CorrelateConfig
    from datachef.chef import ChefConfig
    from datachef.engine.export import FORMATS
    from datachef.engine.schema import SCHEMAS

    assert get_args(Format) == FORMATS and set(get_args(SchemaKind)) == set(SCHEMAS)
    assert get_args(ChefForm) == get_args(get_type_hints(ChefConfig)["form"])
    from datachef.verifier import VerifierConfig

    assert get_args(RewardKind) == get_args(VerifierConfig.model_fields["reward"].annotation)
    assert set(PROFILES) == set(get_args(CorrelateConfig.model_fields["profile"].annotation))
    from datachef.engine.run import EXECUTORS

    assert get_args(ExecutorName) == EXECUTORS


def test_run_on_ray_writes_the_local_corpus(ray_cluster, make_task, write_recipe, tmp_path):
    task = make_task({"s": math_rows(40) + math_rows(10)})
    recipe = write_recipe([{"id": "s", "op": "load", "args": {"source": "s"}},
                           {"id": "u", "op": "dedup_exact", "input": "s"}, chat_after("u")], output="chat")
    outs = {}
    for executor in ("local", "ray"):
        r = runner.invoke(app, ["run", str(recipe), "--task", str(task), "--out", str(tmp_path / executor),
                                "--cache-dir", str(tmp_path / f"cache-{executor}"), "--executor", executor, "-q"])
        assert r.exit_code == 0, r.output
        assert "dropped: duplicate=10" in r.output
        outs[executor] = (tmp_path / executor / "data.jsonl").read_bytes()
    assert outs["ray"] == outs["local"]


def test_executor_choices_and_conflicts(tmp_path):
    r = runner.invoke(app, ["run", "r.yaml", "--task", "t.yaml", "--out", str(tmp_path), "--executor", "spark"])
    assert r.exit_code == 2 and "spark" in r.output
    r = runner.invoke(app, ["chef-eval", "--executor", "ray", "--jobs", "2", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "drop --jobs" in r.output


def test_the_default_chef_is_the_embedded_trained_one_writing_compact_recipes():
    from datachef.cli import _chef_defaults

    assert _chef_defaults("local", None, None) == ("chef", "compact")
    assert _chef_defaults("local", None, "typed") == ("chef", "typed")
    assert _chef_defaults("local", "smollm2", None) == ("smollm2", "typed")  # the untrained model: as before
    assert _chef_defaults("local", "/models/mine", None) == ("/models/mine", "typed")
    assert _chef_defaults("openai", "gpt", None) == ("gpt", "typed")
    assert _chef_defaults("random", None, None) == (None, "typed")


def test_help_does_not_import_torch():
    code = ("import sys; from typer.testing import CliRunner; from datachef.cli import app; "
            "[CliRunner().invoke(app, a) for a in (['--help'], ['train', '--help'], ['cook', '--help'])]; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.split() == ["False", "False"]


# ------------------------------------------------------------------------------------- train's generated flags

def _train_params():
    return {p.name: p for p in typer.main.get_command(app).commands["train"].params}


def test_train_flags_track_train_config():
    params = _train_params()
    assert set(params) == set(TrainConfig.model_fields) | {"data", "out", "base", "profile", "resume"}
    for name, field in TrainConfig.model_fields.items():
        assert params[name].default is None and field.description in params[name].help, name
    assert (params["lora"].opts, params["lora"].secondary_opts) == (["--lora"], ["--full"])
    assert (params["bf16"].opts, params["bf16"].secondary_opts) == (["--bf16"], ["--fp32"])
    assert params["gradient_checkpointing"].secondary_opts == ["--no-gradient-checkpointing"]
    assert params["lora_targets"].multiple and "gpu 3, cpu 1" in params["epochs"].help


def test_train_passes_only_given_flags_over_the_profile(monkeypatch):
    import datachef.adapt

    seen = []

    def fake_train(data, base, out, config, *, resume, log):
        seen.append(config)
        raise datachef.adapt.AdaptError("stopped here")

    monkeypatch.setattr(datachef.adapt, "train_sft", fake_train)
    res = runner.invoke(app, ["train", "d.jsonl", "--out", "o", "--profile", "gpu", "--full", "--fp32", "--epochs",
                              "2", "--lora-targets", "q_proj", "--lora-targets", "v_proj"])
    assert res.exit_code == 2 and "error: stopped here" in res.output
    expected = TrainConfig.profile("gpu", lora=False, bf16=False, epochs=2, lora_targets=["q_proj", "v_proj"])
    assert seen == [expected] and expected.max_samples == 10_000  # untouched fields keep the profile's values


def test_a_new_config_field_becomes_a_flag():
    Extended = create_model("Extended", __base__=TrainConfig,
                            new_knob=(int, Field(3, description="A knob added later.")),
                            new_switch=(bool, Field(False, description="A switch added later.")))
    got = {}
    mini = typer.Typer()

    @mini.command()
    @with_options(config_options(Extended, PROFILES))
    def go(**fields):
        got.update(fields)

    res = CliRunner(env={"COLUMNS": "200"}).invoke(mini, ["--new-knob", "5", "--new-switch"])
    assert res.exit_code == 0, res.output
    assert got["new_knob"] == 5 and got["new_switch"] is True and got["epochs"] is None
    assert "A knob added later. Profile default: gpu 3, cpu 3." in CliRunner(env={"COLUMNS": "200"}).invoke(
        mini, ["--help"]).output
