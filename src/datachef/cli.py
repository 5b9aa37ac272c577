"""`datachef` command line. Thin: parse arguments, call the library, print results, map errors to exit codes."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import DatachefError

app = typer.Typer(
    help="datachef: turn a task plus a pool of raw data sources into a verified training corpus for LLM adaptation.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
kitchen_app = typer.Typer(help="Built-in offline example tasks (task + source pool + expert recipe).",
                          no_args_is_help=True)
app.add_typer(kitchen_app, name="kitchen")


def _fail(e: DatachefError) -> None:
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


@app.command()
def inspect(task: Path = typer.Argument(..., help="Task YAML file."),
            examples: int = typer.Option(3, help="Example rows shown per source."),
            scan: int = typer.Option(1000, help="Rows read per source for field statistics."),
            as_json: bool = typer.Option(False, "--json", help="Print the profiles as JSON instead of text.")) -> None:
    """Profile every source of TASK: fields and types, row counts, length statistics, example rows.

    This text is what the chef sees of the sources."""
    from .io import load_task, task_base_dir
    from .sources import open_source, profile_source, render_profiles

    try:
        t = load_task(task)
        profiles = [profile_source(open_source(s, task_base_dir(t)), n_examples=examples, scan=scan)
                    for s in t.sources]
    except DatachefError as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in profiles], indent=2, ensure_ascii=False))
    else:
        typer.echo(render_profiles(profiles))


@app.command()
def run(recipe: Path = typer.Argument(..., help="Recipe YAML/JSON file."),
        task: Path = typer.Option(..., "--task", help="Task YAML file the recipe is for."),
        out: Path = typer.Option(..., "--out", help="Output folder (data, manifest.json, recipe.yaml, dropped/)."),
        format: str = typer.Option("messages", "--format",
                                   help="messages | sharegpt | alpaca | dialogs | parquet"),
        cache_dir: Optional[Path] = typer.Option(None, help="Step cache (default $DATACHEF_CACHE or "
                                                            "~/.cache/datachef). Re-runs and killed runs resume "
                                                            "from it."),
        seed: int = typer.Option(0, help="Run seed."),
        llm: Optional[str] = typer.Option(None, "--llm", help="LLM for llm_map/llm_generate steps: local | openai."),
        model: Optional[str] = typer.Option(None, help="Model of --llm (local: HF id or path, default the "
                                                       "embedded SmolLM2-135M-Instruct; openai: the served name)."),
        base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint for --llm openai."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")) -> None:
    """Validate RECIPE fully, execute it (streaming, cached) and write the corpus atomically to OUT."""
    from .engine import FORMATS, run_recipe
    from .io import load_recipe, load_task

    if format not in FORMATS:
        typer.echo(f"error: --format must be one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    try:
        t = load_task(task)
        r = load_recipe(recipe)
        client = _client(llm, model, base_url) if llm else None
        m = run_recipe(r, t, out, fmt=format, cache_dir=cache_dir, seed=seed, llm=client,
                       progress=None if not quiet else False, log=None if quiet else _log, recipe_file=str(recipe))
    except DatachefError as e:
        _fail(e)
    typer.echo(f"wrote {m.output.records} records to {out / m.output.path} ({m.seconds:.1f}s)")
    for s in m.steps:
        dropped = ", ".join(f"{k}={v}" for k, v in s.dropped.items())
        typer.echo(f"  {s.id:<24} {s.op:<16} {s.rows_in:>8} -> {s.rows_out:<8}"
                   + (" cached" if s.cached else "") + (f"  dropped: {dropped}" if dropped else "")
                   + "".join(f"\n    warning: {w}" for w in s.warnings))


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


def _client(kind: str, model: Optional[str], base_url: Optional[str], cache: bool = True):
    from .llm import make_client

    return make_client(kind, model=model, base_url=base_url, cache_dir=None if cache else False)


@app.command()
def serve(kind: str = typer.Option("local", help="local (in-process transformers) | openai (proxy an endpoint)."),
          model: Optional[str] = typer.Option(None, help="Model (local default: the embedded SmolLM2-135M-Instruct)."),
          base_url: Optional[str] = typer.Option(None, help="Upstream endpoint for --kind openai."),
          host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
          port: int = typer.Option(8000, help="Port."),
          no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the on-disk request cache.")) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/models)."""
    from .llm.server import run_server

    try:
        client = _client(kind, model, base_url, cache=not no_cache)
    except DatachefError as e:
        _fail(e)
    run_server(client, host, port)


@app.command()
def schema(kind: str = typer.Argument(..., help="task | recipe | record | manifest"),
           task: Optional[Path] = typer.Option(None, "--task",
                                               help="Specialise the recipe schema to this task (source ids).")) -> None:
    """Print the JSON Schema of a spec file (the recipe schema types every op's args)."""
    from .engine.schema import SCHEMAS, recipe_schema
    from .io import load_task

    if kind not in SCHEMAS:
        typer.echo(f"error: unknown schema '{kind}' (choose from {', '.join(SCHEMAS)})", err=True)
        raise typer.Exit(2)
    try:
        s = recipe_schema(load_task(task)) if kind == "recipe" and task else SCHEMAS[kind]()
    except DatachefError as e:
        _fail(e)
    typer.echo(json.dumps(s, indent=2))


@app.command()
def ops(name: Optional[str] = typer.Argument(None, help="Show one op in full."),
        as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON.")) -> None:
    """List the operators recipes can use, with their parameters."""
    from .ops import op_catalogue

    cat = op_catalogue()
    if name:
        cat = [c for c in cat if c["name"] == name]
        if not cat:
            typer.echo(f"error: unknown op '{name}'", err=True)
            raise typer.Exit(2)
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
def verify(out_dir: Path = typer.Argument(..., help="A run's output folder (with data.jsonl)."),
           task: Path = typer.Option(..., "--task", help="Task YAML file."),
           judge: str = typer.Option("local", help="local (embedded SmolLM2 + embeddings + checkers) | openai."),
           model: Optional[str] = typer.Option(None, help="Judge model (openai: the served name; local: an HF id or "
                                                          "path instead of the embedded default)."),
           base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible endpoint for --judge openai."),
           sample: int = typer.Option(100, help="Instances to grade (seeded sample)."),
           seed: int = typer.Option(0, help="Sampling seed.")) -> None:
    """Score a corpus with the Data Verifier (gates + checkers + rubric judge) and write OUT_DIR/verify.json."""
    from .verifier import format_report, verify_command

    try:
        report = verify_command(out_dir, task, judge=judge, model=model, base_url=base_url, sample=sample, seed=seed)
    except DatachefError as e:
        _fail(e)
    typer.echo(format_report(report))


@app.command()
def cook(task: Optional[Path] = typer.Argument(None, help="Task YAML file (default: the built-in --kitchen)."),
         out: Path = typer.Option(Path("runs/cook"), "--out", help="Output folder."),
         kitchen: str = typer.Option("gsm8k", help="Built-in kitchen used when no TASK is given."),
         n: int = typer.Option(8, "--n", help="Recipes the chef samples (best-of-N)."),
         chef: str = typer.Option("local", help="local (embedded SmolLM2 by default) | openai."),
         model: Optional[str] = typer.Option(None, help="Chef model."),
         base_url: Optional[str] = typer.Option(None, help="Endpoint for --chef openai."),
         coder_model: Optional[str] = typer.Option(None, help="Decoupled mode: a second model writes the program "
                                                              "(same backend as --chef)."),
         decoupled: bool = typer.Option(False, help="Planner then coder (paper's decoupled mode)."),
         mode: str = typer.Option("typed", help="typed (constrained JSON recipe) | python (kit script, sandboxed)."),
         search_budget: int = typer.Option(4, help="Extra executions for verifier-guided refinement (0 = best-of-N "
                                                   "only)."),
         judge: str = typer.Option("local", help="Verifier judge: local | openai."),
         judge_model: Optional[str] = typer.Option(None, help="Judge model for --judge openai."),
         judge_base_url: Optional[str] = typer.Option(None, help="Endpoint for --judge openai."),
         sample: int = typer.Option(100, help="Instances the verifier grades per recipe."),
         temperature: float = typer.Option(0.8, help="Chef sampling temperature."),
         max_tokens: int = typer.Option(700, help="Chef's token budget per answer."),
         max_repairs: int = typer.Option(2, help="Repair rounds for an answer that does not validate."),
         seed: int = typer.Option(0, help="Seed."),
         threads: int = typer.Option(0, help="CPU threads of the embedded model (0 = auto: every allowed core, or 1 "
                                             "when other jobs already load the machine)."),
         cache_dir: Optional[Path] = typer.Option(None, help="Step cache folder.")) -> None:
    """The main job: profile sources, have the chef write N recipes, execute and verify each, search, and write
    OUT/best (recipe, data, manifest, verify.json), OUT/candidates, OUT/cook.json and OUT/report.html."""
    from .chef import Chef, ChefConfig
    from .chef.cook import Cook, CookConfig
    from .io import load_task

    if mode not in ("typed", "python"):
        typer.echo("error: --mode must be typed or python", err=True)
        raise typer.Exit(2)
    try:
        if task is None:
            from .kitchens import prepare_kitchen

            task = prepare_kitchen(kitchen, out / "kitchen")
        t = load_task(task)
        if chef == "local" or judge == "local":
            set_torch_threads(threads)
        planner = _client(chef, model, base_url)
        coder = _client(chef, coder_model, base_url) if coder_model else None
        if judge == "openai":
            judge_client = _client("openai", judge_model, judge_base_url)
        elif judge == "local":
            # The embedded model serves as chef and judge: load it once.
            judge_client = planner if (chef == "local" and model is None) else "local"
        else:
            typer.echo("error: --judge must be local or openai", err=True)
            raise typer.Exit(2)
        the_chef = Chef(planner, ChefConfig(form=mode, decoupled=decoupled or coder is not None,
                                            temperature=temperature, max_tokens=max_tokens, max_repairs=max_repairs,
                                            seed=seed), coder=coder)
        summary = Cook(t, out, the_chef, judge_client,
                       CookConfig(n=n, search_budget=search_budget, sample=sample, seed=seed, cache_dir=cache_dir),
                       log=_log).run()
    except DatachefError as e:
        _fail(e)
    best = summary["best"]
    typer.echo(f"executability {summary['executable']}/{summary['n']}, DVS_avg@{summary['n']} "
               f"{summary['dvs_avg']:.3f}, best-of-N {summary['best_of_n']['score']:.3f}, best {best['score']:.3f} "
               f"({best['id']}, {best['origin']}); wrote {out / 'best'} and {out / 'report.html'}")


@app.command()
def train(data: Path = typer.Argument(..., help="Corpus: a data.jsonl/.parquet of chat records or a run folder."),
          base: Optional[str] = typer.Option(None, help="Base model: HF id or path (default: the embedded "
                                                        "SmolLM2-135M-Instruct)."),
          out: Path = typer.Option(..., "--out", help="Checkpoint folder (final model in OUT/final)."),
          profile: str = typer.Option("cpu", help="cpu (tiny LoRA run) | gpu (paper: 10K samples, 3 epochs, lr 2e-5, "
                                                  "batch 64)."),
          max_samples: Optional[int] = typer.Option(None, help="Budget: records sampled for training."),
          epochs: Optional[float] = typer.Option(None, help="Epochs."),
          max_steps: Optional[int] = typer.Option(None, help="Stop after this many optimizer steps."),
          lr: Optional[float] = typer.Option(None, help="Learning rate."),
          batch_size: Optional[int] = typer.Option(None, help="Micro-batch per device."),
          effective_batch_size: Optional[int] = typer.Option(None, help="Sequences per optimizer step."),
          max_seq_len: Optional[int] = typer.Option(None, help="Truncate longer records."),
          lora: Optional[bool] = typer.Option(None, "--lora/--full", help="LoRA adapters or full fine-tuning."),
          bf16: Optional[bool] = typer.Option(None, "--bf16/--fp32", help="Mixed precision (default: where fast)."),
          save_steps: Optional[int] = typer.Option(None, help="Checkpoint every N steps."),
          seed: Optional[int] = typer.Option(None, help="Seed."),
          resume: bool = typer.Option(False, help="Resume from the latest checkpoint in OUT.")) -> None:
    """Supervised fine-tuning (TRL SFTTrainer, loss on assistant turns) of BASE on a corpus. Runs unchanged under
    `accelerate launch -m datachef.cli train ...` on GPUs."""
    from .adapt import TrainConfig, train_sft

    try:
        cfg = TrainConfig.profile(profile, max_samples=max_samples, epochs=epochs, max_steps=max_steps, lr=lr,
                                  batch_size=batch_size, effective_batch_size=effective_batch_size,
                                  max_seq_len=max_seq_len, lora=lora, bf16=bf16, save_steps=save_steps, seed=seed)
        result = train_sft(data, base, out, cfg, resume=resume, log=_log)
    except DatachefError as e:
        _fail(e)
    typer.echo(f"trained on {result.samples} records, {result.steps} steps, final loss {result.final_loss}; "
               f"model in {result.final_dir} ({result.seconds:.0f}s)")


@app.command("eval")
def eval_cmd(ckpt: str = typer.Argument(..., help="Model folder or HF id ('smollm2' = the embedded base model)."),
             task: Path = typer.Option(..., "--task", help="Task YAML file (its benchmark's held-out items)."),
             out: Optional[Path] = typer.Option(None, "--out", help="Where eval.json goes (default: CKPT folder)."),
             limit: Optional[int] = typer.Option(None, help="Evaluate at most N held-out items."),
             batch_size: int = typer.Option(8, help="Generation batch size."),
             max_new_tokens: int = typer.Option(256, help="Generation budget per item.")) -> None:
    """Evaluate a model on the task's held-out benchmark items (numeric exact match, MCQ accuracy or code pass@1,
    plus the mean NLL of the gold answers); writes eval.json."""
    from .adapt import evaluate
    from .io import load_task

    try:
        result = evaluate(ckpt, load_task(task), limit=limit, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          out=out, log=_log)
    except DatachefError as e:
        _fail(e)
    typer.echo(f"{result.benchmark} ({result.split}, {result.n} items): {result.metric} {result.score:.4f}, "
               f"gold-answer NLL {result.nll}")


@app.command()
def correlate(task: Path = typer.Argument(..., help="Task YAML file."),
              out: Path = typer.Option(..., "--out", help="Study folder (resumable: re-run to continue)."),
              k: int = typer.Option(8, "--k", help="Single-source + length-based corpora."),
              budget: Optional[int] = typer.Option(None, help="Records per corpus (default: the task's "
                                                              "budget.train_samples)."),
              base: Optional[str] = typer.Option(None, help="Base model: HF id or path (default: the embedded "
                                                            "SmolLM2-135M-Instruct)."),
              profile: str = typer.Option("cpu", help="Training preset: cpu (LoRA) | gpu (paper)."),
              epochs: Optional[float] = typer.Option(None, help="Training epochs (overrides the profile)."),
              lr: Optional[float] = typer.Option(None, help="Learning rate (overrides the profile)."),
              max_seq_len: Optional[int] = typer.Option(None, help="Truncate longer records (overrides the "
                                                                   "profile)."),
              eval_limit: Optional[int] = typer.Option(200, help="Held-out benchmark items evaluated per model."),
              max_new_tokens: int = typer.Option(64, help="Generation budget per benchmark item."),
              sample: int = typer.Option(100, help="Instances the verifier grades per corpus."),
              recipe: Optional[list[Path]] = typer.Option(None, "--recipe", help="Recipe file whose output joins "
                                                                                "as a corpus (repeatable)."),
              source: Optional[list[str]] = typer.Option(None, "--source", help="Single-source corpora from these "
                                                                               "sources only (repeatable)."),
              length_subsets: int = typer.Option(2, help="Length-based corpora (shortest, longest, ...)."),
              judge: str = typer.Option("local", help="Verifier judge: local | openai."),
              judge_model: Optional[str] = typer.Option(None, help="Judge model for --judge openai."),
              judge_base_url: Optional[str] = typer.Option(None, help="Endpoint for --judge openai."),
              seed: int = typer.Option(0, help="Seed."),
              threads: int = typer.Option(0, help="torch CPU threads (0 = auto: every allowed core, or 1 when other "
                                                  "jobs already load the machine)."),
              keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints",
                                                    help="Keep full model checkpoints (deleted after evaluation "
                                                         "by default; LoRA adapters are kept)."),
              cache_dir: Optional[str] = typer.Option(None, help="Engine step cache folder.")) -> None:
    """Validate the verifier as a proxy: build K corpora (single sources, length-based subsets, given recipes),
    score, train and evaluate each, and report Pearson/Spearman between proxies (verifier, length, embedding
    relevance) and downstream scores. Writes OUT/correlation.json, table.md, table.csv, scatter.png."""
    from .adapt.correlate import CorrelateConfig, render_table, run_correlation

    if profile not in ("cpu", "gpu"):
        typer.echo("error: --profile must be cpu or gpu", err=True)
        raise typer.Exit(2)
    if judge not in ("local", "openai"):
        typer.echo("error: --judge must be local or openai", err=True)
        raise typer.Exit(2)
    set_torch_threads(threads)
    overrides = {name: v for name, v in (("epochs", epochs), ("lr", lr), ("max_seq_len", max_seq_len))
                 if v is not None}
    try:
        cfg = CorrelateConfig(k=k, budget=budget, base=base, profile=profile, train=overrides, eval_limit=eval_limit,
                              max_new_tokens=max_new_tokens, sample=sample, judge=judge, seed=seed,
                              recipes=[str(r) for r in recipe or []], sources=list(source) if source else None,
                              length_subsets=length_subsets, keep_checkpoints=keep_checkpoints, cache_dir=cache_dir)
    except ValueError as e:  # pydantic's ValidationError
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    try:
        client = _client("openai", judge_model, judge_base_url) if judge == "openai" else None
        result = run_correlation(task, out, cfg, judge=client, log=_log)
    except DatachefError as e:
        _fail(e)
    typer.echo(render_table(result))
    typer.echo(f"wrote {out / 'correlation.json'}, {out / 'table.md'}, {out / 'table.csv'}, {out / 'scatter.png'}")


@kitchen_app.command("list")
def kitchen_list() -> None:
    """List the built-in kitchens."""
    from .kitchens import list_kitchens

    for k in list_kitchens():
        typer.echo(f"{k.name}: {k.description}")


@kitchen_app.command("prepare")
def kitchen_prepare(name: str = typer.Argument(..., help="Kitchen name (see `datachef kitchen list`)."),
                    out: Path = typer.Option(..., "--out", help="Folder to write task.yaml, sources/ and the "
                                                                "expert recipe to."),
                    seed: int = typer.Option(0, help="Seed for the generated sources."),
                    force: bool = typer.Option(False, help="Overwrite an existing, different kitchen folder.")) -> None:
    """Materialise a kitchen offline: task.yaml, sources/*.jsonl, expert_recipe.yaml."""
    from .kitchens import prepare_kitchen

    try:
        path = prepare_kitchen(name, out, seed=seed, force=force)
    except DatachefError as e:
        _fail(e)
    typer.echo(f"kitchen '{name}' ready: {path}")


def main() -> None:  # pragma: no cover
    app(prog_name="datachef")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
