"""`datachef` command line. Thin: parse arguments, call the library, print results. Every command reports a
DatachefError as `error: <message>` on stderr and exits 2 (`_App`); the options are cli_options.py's (`train`'s
generated from `TrainConfig`); LLM clients come from `datachef.llm.make_role_client`. Heavy libraries (torch,
transformers) are imported only inside commands."""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Optional

import typer
from pydantic import ValidationError

from . import cli_pool, cli_rl
from .adapt.train import TrainConfig
from .cli_options import (TRAIN_OPTIONS, BaseModelOption, CacheDir, ChefBaseUrl, ChefForm, ChefMaxTokens, ChefModel,
                          Constrained, Executor, Format, Judge, JudgeBaseUrl, JudgeModel, LlmBaseUrl, LlmModel, OutDir,
                          Profile, RayAddress, Reward, Sample, SchemaKind, Seed, ServedBaseUrl, ServedModel, TaskFile,
                          TaskOption, Threads, TrainEpochs, TrainLr, TrainMaxSeqLen, set_torch_threads, with_options)
from .errors import DatachefError
from .llm import Backend, ClientSpec, make_role_client


def _exits_2_on_error(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        # ValidationError: settings the command passed to a pydantic config (e.g. CorrelateConfig) do not validate.
        except (DatachefError, ValidationError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None

    return run


class _App(typer.Typer):
    """A Typer whose every command maps a user error to `error: <message>` and exit code 2."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda f: register(_exits_2_on_error(f))


app = _App(help="datachef: turn a task plus a pool of raw data sources into a verified training corpus for LLM "
                "adaptation.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
kitchen_app = _App(help="Built-in offline example tasks (task + source pool + expert recipe).", no_args_is_help=True)
app.add_typer(kitchen_app, name="kitchen")
cli_pool.register(app, _App)
cli_rl.register(app, _App)


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


# -------------------------------------------------------------------------------------------------------- commands

@app.command("inspect")
def inspect_cmd(task: TaskFile,
                examples: Annotated[int, typer.Option(help="Example rows shown per source.")] = 3,
                scan: Annotated[int, typer.Option(help="Rows read per source for field statistics.")] = 1000,
                as_json: Annotated[bool, typer.Option("--json", help="Print the profiles as JSON instead of text.")]
                = False) -> None:
    """Profile every source of TASK: fields and types, row counts, length statistics, example rows.

    This text is what the chef sees of the sources."""
    from .io import load_task, task_base_dir
    from .sources import open_source, profile_source, render_profiles

    t = load_task(task)
    profiles = [profile_source(open_source(s, task_base_dir(t)), n_examples=examples, scan=scan) for s in t.sources]
    if as_json:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in profiles], indent=2, ensure_ascii=False))
    else:
        typer.echo(render_profiles(profiles))


@app.command()
def run(recipe: Annotated[Path, typer.Argument(help="Recipe YAML/JSON file.")],
        task: TaskOption, out: OutDir,
        format: Annotated[Format, typer.Option("--format", help="Output format.")] = "messages",
        cache_dir: CacheDir = None, seed: Seed = 0,
        llm: Annotated[Optional[Backend], typer.Option("--llm", help="LLM for llm_map/llm_generate steps.")] = None,
        model: LlmModel = None, base_url: LlmBaseUrl = None,
        executor: Executor = "local", address: RayAddress = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False) -> None:
    """Validate RECIPE fully, execute it (streaming, cached) and write the corpus atomically to OUT: data,
    manifest.json, recipe.yaml, dropped/. With --executor ray the stages run on Ray Data (same corpus)."""
    from .engine import run_recipe
    from .io import load_recipe, load_task

    t, r = load_task(task), load_recipe(recipe)
    client = make_role_client("llm", llm, model, base_url)
    m = run_recipe(r, t, out, fmt=format, cache_dir=cache_dir, seed=seed, llm=client,
                   progress=None if not quiet else False, log=None if quiet else _log, recipe_file=str(recipe),
                   executor=executor, ray_address=address)
    typer.echo(f"wrote {m.output.records} records to {out / m.output.path} ({m.seconds:.1f}s)")
    for s in m.steps:
        dropped = ", ".join(f"{k}={v}" for k, v in s.dropped.items())
        typer.echo(f"  {s.id:<24} {s.op:<16} {s.rows_in:>8} -> {s.rows_out:<8}"
                   + (" cached" if s.cached else "") + (f"  dropped: {dropped}" if dropped else "")
                   + "".join(f"\n    warning: {w}" for w in s.warnings))


@app.command()
def serve(kind: Annotated[Backend, typer.Option(help="local (in-process transformers) | openai (proxy an "
                                                     "endpoint).")] = "local",
          model: ServedModel = None, base_url: ServedBaseUrl = None,
          host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port.")] = 8000,
          no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not use the on-disk request cache.")]
          = False) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/models)."""
    from .llm.server import run_server

    run_server(make_role_client("served", kind, model, base_url, cache_dir=False if no_cache else None), host, port)


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Argument(help="Which spec file.")],
           task: Annotated[Optional[Path], typer.Option("--task", help="Specialise the recipe schema to this task "
                                                                       "(source ids).")] = None) -> None:
    """Print the JSON Schema of a spec file (the recipe schema types every op's args)."""
    from .engine.schema import SCHEMAS, recipe_schema
    from .io import load_task

    typer.echo(json.dumps(recipe_schema(load_task(task)) if kind == "recipe" and task else SCHEMAS[kind](), indent=2))


@app.command()
def ops(name: Annotated[Optional[str], typer.Argument(help="Show one op in full.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False) -> None:
    """List the operators recipes can use, with their parameters."""
    from .ops import op_catalogue

    cat = op_catalogue()
    if name:
        cat = [c for c in cat if c["name"] == name]
        if not cat:
            raise DatachefError(f"unknown op '{name}' (see `datachef ops`)")
    if as_json:
        typer.echo(json.dumps(cat, indent=2))
        return
    for c in cat:
        doc = c["doc"] if name else c["doc"].split("\n\n")[0].replace("\n", " ")
        typer.echo(f"{c['name']} [{c['kind']}{', needs ' + c['requires'] if c['requires'] else ''}]: {doc}")
        for pname, p in c["params"].get("properties", {}).items():
            req = "*" if pname in c["params"].get("required", []) else ""
            typer.echo(f"    {pname}{req}: {p.get('description', '')}")


@app.command()
def verify(out_dir: Annotated[Path, typer.Argument(help="A run's output folder (with data.jsonl).")],
           task: TaskOption, judge: Judge = "local", model: JudgeModel = None, base_url: JudgeBaseUrl = None,
           sample: Sample = 100, seed: Seed = 0, reward: Reward = "composite") -> None:
    """Score a corpus with the Data Verifier (whole-corpus checks + gates + checkers + rubric judge) and write
    OUT_DIR/verify.json."""
    from .verifier import format_report, verify_command

    typer.echo(format_report(verify_command(out_dir, task, judge=judge, model=model, base_url=base_url,
                                            sample=sample, seed=seed, reward=reward)))


@app.command()
def cook(task: Annotated[Optional[Path], typer.Argument(help="Task YAML file (default: the built-in --kitchen).")]
         = None,
         out: OutDir = Path("runs/cook"),
         kitchen: Annotated[str, typer.Option(help="Built-in kitchen used when no TASK is given.")] = "gsm8k",
         n: Annotated[int, typer.Option("--n", help="Recipes the chef samples (best-of-N).")] = 8,
         chef: Annotated[Backend, typer.Option(help="Chef LLM: local (the embedded chef by default: SmolLM2-135M "
                                                    "with datachef's RL-trained adapter) | openai.")]
         = "local",
         model: ChefModel = None, base_url: ChefBaseUrl = None,
         coder_model: Annotated[Optional[str], typer.Option(help="Decoupled mode: a second model writes the program "
                                                                 "(same backend as --chef).")] = None,
         decoupled: Annotated[bool, typer.Option(help="Planner then coder (paper's decoupled mode).")] = False,
         mode: Annotated[Optional[ChefForm], typer.Option(help="typed (constrained JSON recipe) | python (kit "
                                                               "script, sandboxed) | steps (the whole op DAG under "
                                                               "the task's recipe schema, for strong chefs) | "
                                                               "compact (the short form a `datachef rl` policy "
                                                               "writes). Default: compact for the embedded chef, "
                                                               "typed for any other model.")] = None,
         constrained: Constrained = True,
         search_budget: Annotated[int, typer.Option(help="Extra executions for verifier-guided refinement (0 = "
                                                         "best-of-N only).")] = 4,
         judge: Judge = "local", judge_model: JudgeModel = None, judge_base_url: JudgeBaseUrl = None,
         sample: Sample = 100, reward: Reward = "composite",
         temperature: Annotated[float, typer.Option(help="Chef sampling temperature.")] = 0.8,
         max_tokens: ChefMaxTokens = None,
         max_repairs: Annotated[int, typer.Option(help="Repair rounds for an answer that does not validate.")] = 2,
         redraws: Annotated[int, typer.Option(help="Rounds of drawing again (hotter, new seeds) the drafts that "
                                                   "repeat an earlier draft's program (0 = keep repeats; they "
                                                   "share its result).")] = 4,
         seed: Seed = 0, threads: Threads = 0, cache_dir: CacheDir = None,
         executor: Executor = "local", address: RayAddress = None,
         quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output (bars and log lines); the "
                                                                   "bars show only when stderr is a terminal.")]
         = False) -> None:
    """The main job: profile sources, have the chef write N recipes, execute and verify each, search, and write
    OUT/best (recipe, data, manifest, verify.json), OUT/candidates, OUT/cook.json and OUT/report.html.
    With --executor ray the N drafts are executed and verified at once on Ray workers (each with its own judge)."""
    from .chef import Chef, ChefConfig
    from .chef.cook import Cook, CookConfig
    from .io import load_task

    # Every role's arguments are checked before a kitchen is written or a model loads.
    if mode is None and (decoupled or coder_model):
        mode = "typed"  # the compact form is one answer: a planner and a coder write the typed one
    model, mode = _chef_defaults(chef, model, mode)
    if mode == "compact" and (decoupled or coder_model):
        raise typer.BadParameter("the compact form is written in one answer: drop --decoupled / --coder-model",
                                 param_hint="--mode")
    chef_spec = ClientSpec("chef", chef, model, base_url)
    coder_spec = ClientSpec("coder", chef, coder_model, base_url) if coder_model else None
    judge_spec = ClientSpec("judge", judge, judge_model, judge_base_url)
    if task is None:
        from .kitchens import prepare_kitchen

        task = prepare_kitchen(kitchen, out / "kitchen")
    t = load_task(task)
    if chef == "local" or judge == "local":
        set_torch_threads(threads)
    planner = chef_spec.build()
    coder = coder_spec.build(share=planner) if coder_spec else None
    judge_client = judge_spec.build(share=planner)  # the embedded model, when chef and judge, loads once
    the_chef = Chef(planner, ChefConfig(form=mode, decoupled=decoupled or coder is not None, temperature=temperature,
                                        max_tokens=max_tokens, max_repairs=max_repairs, seed=seed,
                                        constrained=constrained), coder=coder)
    config = CookConfig(n=n, search_budget=search_budget, sample=sample, seed=seed, cache_dir=cache_dir,
                        reward=reward, redraws=redraws)
    with _scorers(executor, address, judge_spec, sample, seed, reward, cache_dir, quiet) as scorers:
        summary = Cook(t, out, the_chef, judge_client, config, log=None if quiet else _log,
                       # Redrawn bars in a log file or a pipe would be noise: a terminal only.
                       progress=sys.stderr if not quiet and sys.stderr.isatty() else None,
                       scorers=scorers, task_file=Path(task)).run()
    best = summary["best"]
    typer.echo(f"executability {summary['executable']}/{summary['n']}, {summary['distinct_drafts']} distinct, "
               f"DVS_avg@{summary['n']} {summary['dvs_avg']:.3f}, best-of-N {summary['best_of_n']['score']:.3f}, "
               f"best {best['score']:.3f} "
               f"({best['id']}, {best['origin']}); wrote {out / 'best'} and {out / 'report.html'}")


@app.command("chef-eval")
def chef_eval(out: OutDir = Path("runs/chef-eval"),
              split: Annotated[Literal["heldout", "heldout-id", "heldout-ood", "train", "all"],
                               typer.Option(help="Pool tasks to judge the chef on (ignored with --task).")]
              = "heldout",
              pool: Annotated[Optional[Path], typer.Option(help="Prepared pool folder (`datachef pool prepare "
                                                                "--all`); default OUT/pool, prepared when "
                                                                "missing.")] = None,
              task: Annotated[Optional[list[Path]], typer.Option("--task", help="Task YAML to judge on instead "
                                                                               "(repeatable).")] = None,
              n: Annotated[int, typer.Option("--n", min=1, help="Independent recipes per task (the paper: 32).")]
              = 8,
              chef: Annotated[Literal["local", "openai", "random"],
                              typer.Option(help="Chef: local (the embedded chef by default) | openai | random (valid "
                                                "recipes drawn uniformly from the typed schema: the chance "
                                                "baseline).")] = "local",
              model: ChefModel = None, base_url: ChefBaseUrl = None,
              mode: Annotated[Optional[ChefForm], typer.Option(help="typed | python | steps (the whole op DAG "
                                                                    "under the task's recipe schema) | compact (the "
                                                                    "short form a `datachef rl` policy writes). "
                                                                    "Default: compact for the embedded chef, typed "
                                                                    "for any other model.")] = None,
              constrained: Constrained = True,
              judge: Judge = "local", judge_model: JudgeModel = None, judge_base_url: JudgeBaseUrl = None,
              sample: Sample = 100, reward: Reward = "composite",
              temperature: Annotated[float, typer.Option(help="Chef sampling temperature.")] = 0.8,
              max_tokens: ChefMaxTokens = None,
              max_repairs: Annotated[int, typer.Option(help="Repair rounds for an answer that does not "
                                                            "validate.")] = 2,
              expert: Annotated[bool, typer.Option(help="Score each task's expert recipe as a reference row.")]
              = True,
              jobs: Annotated[int, typer.Option(min=1, help="Tasks evaluated at once, each in a worker process with "
                                                            "its own chef and judge (memory: one model per worker)."
                                                  )] = 1,
              seed: Seed = 0, threads: Threads = 0, cache_dir: CacheDir = None,
              executor: Executor = "local", address: RayAddress = None,
              quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No log lines.")] = False) -> None:
    """The paper's held-out evaluation of a chef (Table 1): N recipes per task, each executed and verified;
    per task executability, DVS_avg@N, best-of-N and the expert recipe's score, with in-domain / out-of-domain /
    overall averages. Writes OUT/chef_eval.json, .md and .html; resumable per (task, recipe). With --executor ray
    each task's recipes are executed and verified at once on Ray workers (not with --jobs)."""
    from .chef import ChefConfig
    from .chef.chef_eval import ChefEval, ChefEvalConfig, ChefFactory, EvalTask

    if executor == "ray" and jobs > 1:
        raise typer.BadParameter("--executor ray spreads each task's recipes over Ray workers; drop --jobs",
                                 param_hint="--jobs")
    judge_spec = ClientSpec("judge", judge, judge_model, judge_base_url)
    model, mode = _chef_defaults(chef, model, mode)
    chef_spec = ClientSpec("chef", chef, model, base_url) if chef != "random" else None
    if task:
        from .io import load_task

        for t in task:
            load_task(t)  # a bad task file is reported before anything is written
        tasks = [EvalTask(Path(t), _pool_split(Path(t))) for t in task]
    else:
        from .pool import all_tasks, prepare_task

        folder = pool or out / "pool"
        wanted = {"heldout": ("heldout-id", "heldout-ood"), "all": ("train", "heldout-id", "heldout-ood")}.get(
            split, (split,))
        tasks = []
        for t in all_tasks():
            if t.split in wanted:
                if not (folder / t.name / "task.yaml").is_file():
                    prepare_task(t.name, folder / t.name, seed=seed)
                tasks.append(EvalTask(folder / t.name / "task.yaml", t.split))
    if chef == "local" or judge == "local":
        set_torch_threads(threads)
    factory = ChefFactory(chef_spec, judge_spec, ChefConfig(form=mode, temperature=temperature, max_tokens=max_tokens,
                                                            max_repairs=max_repairs, seed=seed,
                                                            constrained=constrained))
    config = ChefEvalConfig(n=n, sample=sample, seed=seed, reward=reward, cache_dir=cache_dir, expert=expert,
                            jobs=jobs)
    # One task at a time builds the chef and judge here; several at once build them in each worker.
    the_chef, judge_client = factory() if jobs == 1 or len(tasks) == 1 else (None, None)
    with _scorers(executor, address, judge_spec, sample, seed, reward, cache_dir, quiet) as scorers:
        summary = ChefEval(tasks, out, the_chef, judge_client, config, log=None if quiet else _log,
                           factory=factory, scorers=scorers).run()
    from .chef.chef_eval import render_markdown

    typer.echo(render_markdown(summary))
    typer.echo(f"wrote {out / 'chef_eval.json'}, {out / 'chef_eval.md'}, {out / 'chef_eval.html'}")


def _chef_defaults(chef: str, model: str | None, mode: str | None) -> tuple[str | None, str]:
    """`--chef local` without --model is the embedded chef (SmolLM2-135M with the RL-trained adapter datachef ships),
    which writes the compact form it was trained on; any other model writes typed recipes unless --mode says."""
    from .llm.models import is_embedded_chef

    if chef == "local" and model is None:
        model = "chef"
    if mode is None:
        mode = "compact" if chef == "local" and is_embedded_chef(model) else "typed"
    return model, mode


def _scorers(executor: str, address: str | None, judge: ClientSpec, sample: int, seed: int, reward: str,
             cache_dir: Path | None, quiet: bool):
    """Ray scorers for `--executor ray` (inside a Ray session for the command), else None."""
    from .verifier.scoring import ScoringConfig, scorers_for

    return scorers_for(executor, address, judge.build, ScoringConfig(sample=sample, seed=seed, reward=reward,
                                                                     cache_dir=cache_dir), None if quiet else _log)


def _pool_split(task_yaml: Path) -> str:
    """A task's split from the pool.json next to it (pool tasks), else 'other'."""
    try:
        return str(json.loads((task_yaml.parent / "pool.json").read_text(encoding="utf-8"))["split"])
    except (OSError, ValueError, KeyError):
        return "other"


@app.command()
@with_options(TRAIN_OPTIONS)
def train(data: Annotated[Path, typer.Argument(help="Corpus: a data.jsonl/.parquet of chat records or a run folder.")],
          out: OutDir, base: BaseModelOption = None, profile: Profile = "cpu",
          resume: Annotated[bool, typer.Option(help="Resume from the latest checkpoint in OUT.")] = False,
          **fields: Any) -> None:
    """Supervised fine-tuning (TRL SFTTrainer, loss on assistant turns) of BASE on a corpus; checkpoints go to
    OUT/checkpoints, the final model to OUT/final. Every TrainConfig field is a flag overriding the --profile preset.
    Runs unchanged under `accelerate launch -m datachef.cli train ...` on GPUs."""
    from .adapt import train_sft

    result = train_sft(data, base, out, TrainConfig.profile(profile, **fields), resume=resume, log=_log)
    typer.echo(f"trained on {result.samples} records, {result.steps} steps, final loss {result.final_loss}; "
               f"model in {result.final_dir} ({result.seconds:.0f}s)")


@app.command("eval")
def eval_cmd(ckpt: Annotated[str, typer.Argument(help="`datachef train` output, model folder, LoRA adapter folder "
                                                 "(merged into the base it names) or HF id ('smollm2' = the "
                                                 "embedded base model).")],
             task: TaskOption,
             out: Annotated[Optional[Path], typer.Option("--out", help="Where eval.json goes (default: CKPT "
                                                                       "folder).")] = None,
             limit: Annotated[Optional[int], typer.Option(help="Evaluate at most N held-out items.")] = None,
             batch_size: Annotated[int, typer.Option(help="Generation batch size.")] = 8,
             max_new_tokens: Annotated[int, typer.Option(help="Generation budget per item.")] = 256) -> None:
    """Evaluate a model on the task's held-out benchmark items (numeric exact match, MCQ accuracy or code pass@1,
    plus the mean NLL of the gold answers); writes eval.json."""
    from .adapt import evaluate
    from .io import load_task

    result = evaluate(ckpt, load_task(task), limit=limit, batch_size=batch_size, max_new_tokens=max_new_tokens,
                      out=out, log=_log)
    typer.echo(f"{result.benchmark} ({result.split}, {result.n} items): {result.metric} {result.score:.4f}, "
               f"gold-answer NLL {result.nll}")


@app.command()
def correlate(task: TaskFile, out: OutDir,
              k: Annotated[int, typer.Option("--k", help="Single-source + length-based corpora.")] = 8,
              budget: Annotated[Optional[int], typer.Option(help="Records per corpus (default: the task's "
                                                                 "budget.train_samples).")] = None,
              base: BaseModelOption = None, profile: Profile = "cpu",
              epochs: TrainEpochs = None, lr: TrainLr = None, max_seq_len: TrainMaxSeqLen = None,
              eval_limit: Annotated[Optional[int], typer.Option(help="Held-out benchmark items evaluated per "
                                                                     "model.")] = 200,
              max_new_tokens: Annotated[int, typer.Option(help="Generation budget per benchmark item.")] = 64,
              sample: Sample = 100,
              recipe: Annotated[Optional[list[Path]], typer.Option("--recipe", help="Recipe file whose output joins "
                                                                                    "as a corpus (repeatable).")]
              = None,
              source: Annotated[Optional[list[str]], typer.Option("--source", help="Single-source corpora from these "
                                                                                   "sources only (repeatable).")]
              = None,
              length_subsets: Annotated[int, typer.Option(help="Length-based corpora (shortest, longest, ...).")] = 2,
              size_fraction: Annotated[Optional[list[float]], typer.Option(
                  "--size-fraction", help="Size-based corpora: this fraction of the budget from one single-source "
                                          "corpus (repeatable; default 0.25 and 0.5; 0 for none).")] = None,
              judge: Judge = "local", judge_model: JudgeModel = None, judge_base_url: JudgeBaseUrl = None,
              seed: Seed = 0, threads: Threads = 0,
              keep_checkpoints: Annotated[bool, typer.Option("--keep-checkpoints", help="Keep full model checkpoints "
                                                             "(deleted after evaluation by default; LoRA adapters "
                                                             "are kept).")] = False,
              cache_dir: CacheDir = None) -> None:
    """Validate the verifier as a proxy: build K corpora (single sources, length-based subsets, given recipes),
    score, train and evaluate each, and report Pearson/Spearman between proxies (verifier, length, embedding
    relevance) and downstream scores. Writes OUT/correlation.json, table.md, table.csv, scatter.png; re-run with the
    same OUT to resume."""
    from .adapt.correlate import CorrelateConfig, render_table, run_correlation

    overrides = {name: v for name, v in (("epochs", epochs), ("lr", lr), ("max_seq_len", max_seq_len))
                 if v is not None}
    cfg = CorrelateConfig(k=k, budget=budget, base=base, profile=profile, train=overrides, eval_limit=eval_limit,
                          max_new_tokens=max_new_tokens, sample=sample, judge=judge, seed=seed,
                          recipes=[str(r) for r in recipe or []], sources=list(source) if source else None,
                          length_subsets=length_subsets, keep_checkpoints=keep_checkpoints,
                          size_fractions=[f for f in size_fraction if f > 0] if size_fraction else [0.25, 0.5],
                          cache_dir=str(cache_dir) if cache_dir else None)
    set_torch_threads(threads)
    result = run_correlation(task, out, cfg, judge=make_role_client("judge", judge, judge_model, judge_base_url),
                             log=_log)
    typer.echo(render_table(result))
    typer.echo(f"wrote {out / 'correlation.json'}, {out / 'table.md'}, {out / 'table.csv'}, {out / 'scatter.png'}")


@kitchen_app.command("list")
def kitchen_list() -> None:
    """List the built-in kitchens."""
    from .kitchens import list_kitchens

    for k in list_kitchens():
        typer.echo(f"{k.name}: {k.description}")


@kitchen_app.command("prepare")
def kitchen_prepare(name: Annotated[str, typer.Argument(help="Kitchen name (see `datachef kitchen list`).")],
                    out: OutDir, seed: Annotated[int, typer.Option(help="Seed for the generated sources.")] = 0,
                    force: Annotated[bool, typer.Option(help="Overwrite an existing, different kitchen folder.")]
                    = False) -> None:
    """Materialise a kitchen offline into OUT: task.yaml, sources/*.jsonl, expert_recipe.yaml."""
    from .kitchens import prepare_kitchen

    typer.echo(f"kitchen '{name}' ready: {prepare_kitchen(name, out, seed=seed, force=force)}")


def main() -> None:  # pragma: no cover
    app(prog_name="datachef")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
