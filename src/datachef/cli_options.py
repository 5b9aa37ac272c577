"""The options of `datachef`'s commands (cli.py, cli_pool.py, cli_rl.py): choices typer checks itself, `Annotated`
aliases for the options several commands share (same flag, same help everywhere), options generated from a pydantic
config model, the way TRL builds its CLI from its config dataclasses (`train` gets one flag per `TrainConfig`
field), and what `--threads` does (`set_torch_threads`)."""
from __future__ import annotations

import inspect
import types
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Optional, Union, get_args, get_origin

import typer
from pydantic import BaseModel

from .adapt.train import PROFILES, TrainConfig
from .llm import Backend

# ----------------------------------------------------------------------------------------------- shared options
# Choices: typer rejects any other value (exit 2). tests/test_cli.py checks them against the library's own lists.
Format = Literal["messages", "sharegpt", "alpaca", "dialogs", "parquet"]
SchemaKind = Literal["task", "recipe", "record", "manifest"]
ChefForm = Literal["typed", "python", "steps", "compact"]
RewardKind = Literal["composite", "paper"]
ProfileName = Literal[tuple(PROFILES)]  # type: ignore[valid-type]
ExecutorName = Literal["local", "ray"]

TaskFile = Annotated[Path, typer.Argument(help="Task YAML file.")]
TaskOption = Annotated[Path, typer.Option("--task", help="Task YAML file.")]
OutDir = Annotated[Path, typer.Option("--out", help="Output folder (its contents: see the description above).")]
Seed = Annotated[int, typer.Option(help="Seed.")]
CacheDir = Annotated[Optional[Path], typer.Option(help="Step cache (default $DATACHEF_CACHE or ~/.cache/datachef). "
                                                       "Re-runs and killed runs resume from it.")]
Threads = Annotated[int, typer.Option(min=0, help="torch CPU threads (0 = auto: every allowed core, or 1 when other "
                                                  "jobs already load the machine).")]
Sample = Annotated[int, typer.Option(help="Instances the verifier grades (a seeded sample).")]
Constrained = Annotated[bool, typer.Option("--constrained/--free", help="JSON forms decode under their schema's "
                                                                       "grammar (valid by construction), or sample "
                                                                       "freely (a trained policy's unconstrained "
                                                                       "executability).")]
ChefMaxTokens = Annotated[Optional[int], typer.Option(min=1, help="Chef's token budget per answer (default 700; "
                                                                  "compact form 120).")]
Executor = Annotated[ExecutorName, typer.Option(help="local (this process) | ray (a Ray cluster: --address, "
                                                     "RAY_ADDRESS, or a local one started for this command).")]
RayAddress = Annotated[Optional[str], typer.Option("--address", help="Ray cluster for --executor ray: auto (the one "
                                                                     "`ray start --head` started on this machine) "
                                                                     "| ray://HOST:10001 (default: RAY_ADDRESS, "
                                                                     "else a local Ray for this command).")]
BaseModelOption = Annotated[Optional[str], typer.Option("--base", help="Base model: HF id or path (default: the "
                                                                       "embedded SmolLM2-135M-Instruct).")]
Profile = Annotated[ProfileName, typer.Option(help="Training preset: cpu (tiny LoRA run) | gpu (paper: 10K samples, "
                                                   "3 epochs, lr 2e-5, batch 64).")]
Reward = Annotated[RewardKind, typer.Option(help="The verifier's score: composite (quality x yield x breadth x leak "
                                                  "factor, whole-corpus checks) | paper (mean rubric score of the "
                                                  "graded sample).")]
Judge = Annotated[Backend, typer.Option(help="Verifier judge: local (embedded SmolLM2 + embeddings + checkers) | "
                                             "openai.")]


def _model_options(kind_flag: str, what: str, default: str = "the embedded SmolLM2-135M-Instruct ('smollm2')"
                   ) -> tuple[Any, Any]:
    """The model and endpoint options of the LLM role chosen by `kind_flag` (their flags are the parameter names)."""
    model = Annotated[Optional[str], typer.Option(help=f"{what} ({kind_flag} local: an HF id or path, default "
                                                       f"{default}; {kind_flag} openai: the served name).")]
    base_url = Annotated[Optional[str], typer.Option(help=f"OpenAI-compatible endpoint for {kind_flag} openai.")]
    return model, base_url


LlmModel, LlmBaseUrl = _model_options("--llm", "Model of --llm")
ServedModel, ServedBaseUrl = _model_options("--kind", "Model to serve")
ChefModel, ChefBaseUrl = _model_options("--chef", "Chef model", "the embedded chef ('chef': SmolLM2-135M-Instruct "
                                                                 "with datachef's RL-trained adapter)")
TeacherModel = _model_options("--chef", "Teacher chef model")[0]  # rl demos: the untrained model's typed drafts
JudgeModel, JudgeBaseUrl = _model_options("--judge", "Judge model")


# ------------------------------------------------------------------------- options generated from a config model
# As TRL builds its CLI from its config dataclasses: each field of TrainConfig is a `train` flag, so a field added
# there is a flag with no change here. Not given (None) = the profile's value. Spellings kept from earlier releases:
_FLAG_SPELLINGS = {"lora": "--lora/--full", "bf16": "--bf16/--fp32"}


def config_options(config: type[BaseModel], presets: dict[str, dict[str, Any]],
                   spellings: dict[str, str] | None = None) -> dict[str, Any]:
    """One optional typer option per field of `config`: bools as `--x/--no-x` (or `spellings[field]`), lists as a
    repeatable option, help = the field's description plus each preset's value."""
    options = {}
    for name, field in config.model_fields.items():
        kind = _drop_none(field.annotation)
        flag = "--" + name.replace("_", "-")
        decl = (spellings or {}).get(name) or (f"{flag}/--no-{flag[2:]}" if kind is bool else flag)
        values = ", ".join(f"{p} {_show(v.get(name, field.get_default(call_default_factory=True)))}"
                           for p, v in presets.items())
        options[name] = Annotated[Optional[kind], typer.Option(decl, help=f"{field.description} Profile default: "
                                                                         f"{values}.")]
    return options


def _drop_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else "none" if value is None else str(value)


def with_options(options: dict[str, Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command that takes `**fields` one keyword option per entry of `options` (typer reads the command's
    `__signature__`)."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(command, eval_str=True)
        fixed = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        if clash := {p.name for p in fixed} & set(options):
            raise TypeError(f"{command.__name__}: generated options clash with its own: {', '.join(sorted(clash))}")
        command.__signature__ = sig.replace(parameters=fixed + [  # type: ignore[attr-defined]
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=option)
            for name, option in options.items()])
        return command

    return decorate


TRAIN_OPTIONS = config_options(TrainConfig, PROFILES, _FLAG_SPELLINGS)
TrainEpochs, TrainLr, TrainMaxSeqLen = (TRAIN_OPTIONS[f] for f in ("epochs", "lr", "max_seq_len"))


def set_torch_threads(threads: int) -> None:
    """Set torch's CPU threads; 0 = auto: torch's default, or 1 when other jobs already load the machine. Measured on
    2 cores under a load of ~4, two threads spent their time waiting at OpenMP barriers (drafting 8 recipes took
    over 18 minutes, 5 with one thread; batched generation was 4.6x slower)."""
    import os

    if threads < 0:
        raise typer.BadParameter("--threads must be >= 0")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads == 0 and hasattr(os, "getloadavg") and os.getloadavg()[0] >= max(1.0, cores / 2):
        threads = 1
    if threads:
        import torch

        torch.set_num_threads(threads)
