"""The CLI surface: help, schema, ops, run (exit codes and messages)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from datachef.cli import app

from .conftest import chat_after, math_rows

runner = CliRunner()


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
