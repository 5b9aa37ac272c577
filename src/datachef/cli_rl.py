"""`datachef rl ...`: teaching the chef by reinforcement learning. Registered on the main app by cli.py.
So far: `rl demos` (cold-start demonstrations by rejection sampling) and `rl sft` (cold-start SFT of the policy)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .cli_options import (BaseModelOption, CacheDir, ChefBaseUrl, ChefModel, Executor, Judge, JudgeBaseUrl, JudgeModel,
                          OutDir, Profile, RayAddress, Reward, Sample, Seed, Threads, set_torch_threads)

TEACHERS = ("probe", "chef")


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


def register(app: typer.Typer, make_app) -> None:
    rl_app = make_app(help="Teach the chef by reinforcement learning: demonstrations and the cold-start SFT (so far; "
                           "GRPO follows).", no_args_is_help=True)
    app.add_typer(rl_app, name="rl")

    @rl_app.command("demos")
    def rl_demos(out: OutDir = Path("runs/rl-demos"),
                 instances: Annotated[Optional[Path], typer.Option(help="Folder of task instances (`datachef pool "
                                                                        "sample`: its instances.jsonl).")] = None,
                 task: Annotated[Optional[list[Path]], typer.Option("--task", help="Task YAML (repeatable); with or "
                                                                                  "instead of --instances.")] = None,
                 teacher: Annotated[Optional[list[str]], typer.Option(
                     help="probe (offline: each source scored alone, then the best ones combined) | chef (the "
                          "--chef model's typed drafts). Repeatable; default probe.")] = None,
                 chef: Annotated[Literal["local", "openai"], typer.Option(help="Chef of the chef teacher.")]
                 = "local",
                 model: ChefModel = None, base_url: ChefBaseUrl = None,
                 n: Annotated[int, typer.Option("--n", min=1, help="Drafts per instance of the chef teacher.")] = 4,
                 threshold: Annotated[float, typer.Option(help="Keep answers whose reward is at least this.")]
                 = 0.5,
                 per_instance: Annotated[int, typer.Option(min=1, help="Demonstrations kept per instance at most "
                                                                       "(best first, one per program).")] = 3,
                 judge: Judge = "local", judge_model: JudgeModel = None, judge_base_url: JudgeBaseUrl = None,
                 sample: Sample = 100, reward: Reward = "composite", seed: Seed = 0, threads: Threads = 0,
                 cache_dir: CacheDir = None, executor: Executor = "local", address: RayAddress = None,
                 quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No log lines.")] = False) -> None:
        """Demonstrations for the cold-start SFT: for each task instance, teachers propose recipes in the policy's
        compact form; each is executed and verified, and those scoring at least --threshold are kept. Writes
        OUT/demos.jsonl (instance, task, prompt, completion, reward, teacher), OUT/instances/ (every scored proposal;
        a re-run skips finished instances) and OUT/summary.json."""
        from .llm import ClientSpec
        from .rl import RecipeReward, RewardConfig
        from .rl.demos import ChefTeacher, DemoConfig, ProbeTeacher, make_demos
        from .verifier.scoring import ScoringConfig, scorers_for

        files = list(task or [])
        if instances is not None:
            listing = instances / "instances.jsonl"
            if not listing.is_file():
                raise typer.BadParameter(f"{listing} not found (make one with `datachef pool sample`)",
                                         param_hint="--instances")
            files += [instances / Path(json.loads(line)["file"]).name
                      for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not files:
            raise typer.BadParameter("give --instances DIR or at least one --task FILE", param_hint="--task")
        teachers_wanted = list(dict.fromkeys(teacher or ["probe"]))
        unknown = [t for t in teachers_wanted if t not in TEACHERS]
        if unknown:
            raise typer.BadParameter(f"unknown teacher {unknown[0]!r} (one of: {', '.join(TEACHERS)})",
                                     param_hint="--teacher")
        judge_spec = ClientSpec("judge", judge, judge_model, judge_base_url)
        chef_spec = ClientSpec("chef", chef, model, base_url) if "chef" in teachers_wanted else None
        if chef == "local" or judge == "local":
            set_torch_threads(threads)
        log = None if quiet else _log
        config = ScoringConfig(sample=sample, seed=seed, reward=reward, cache_dir=cache_dir)
        with scorers_for(executor, address, judge_spec.build, config, log) as scorers:
            judge_client = judge_spec.build() if scorers is None else None
            scorer = RecipeReward(RewardConfig(kind=reward, sample=sample, seed=seed, cache_dir=cache_dir),
                                  judge=judge_client, scorers=scorers, work_dir=out / "runs")
            teachers = []
            for name in teachers_wanted:
                if name == "probe":
                    teachers.append(ProbeTeacher(scorer))
                else:
                    from .chef import Chef, ChefConfig

                    teachers.append(ChefTeacher(Chef(chef_spec.build(), ChefConfig(form="typed", seed=seed)), n))
            summary = make_demos(files, teachers, scorer, out, DemoConfig(threshold=threshold,
                                                                          per_instance=per_instance), log=log)
        typer.echo(f"{summary['demonstrations']} demonstrations over {summary['tasks']} tasks from "
                   f"{summary['instances']} instances (per teacher: {summary['per_teacher']}); wrote "
                   f"{out / 'demos.jsonl'}")

    @rl_app.command("sft")
    def rl_sft(demos: Annotated[Path, typer.Option(help="Demonstrations (`datachef rl demos`: OUT/demos.jsonl).")],
               out: OutDir = Path("runs/rl-sft"),
               base: BaseModelOption = None,
               profile: Profile = "cpu",
               epochs: Annotated[Optional[float], typer.Option(help="Passes over the demonstrations (default: the "
                                                                    "profile's; cpu: 3).")] = None,
               lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (default: the profile's).")]
               = None,
               max_steps: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many optimizer "
                                                                           "steps.")] = None,
               eval_task: Annotated[Optional[list[Path]], typer.Option(
                   "--eval-task", help="Task YAML on which to measure unconstrained executability before and after "
                                       "(repeatable; use held-out tasks).")] = None,
               eval_n: Annotated[int, typer.Option(min=1, help="Answers sampled per eval task.")] = 4,
               eval_temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of the eval "
                                                                             "answers (1.0: as RL rollouts "
                                                                             "sample; 0: greedy).")] = 1.0,
               resume: Annotated[bool, typer.Option(help="Continue from OUT's latest checkpoint.")] = False,
               seed: Seed = 0, threads: Threads = 0,
               quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No log lines.")] = False) -> None:
        """Cold-start SFT of the policy on the demonstrations (TRL, loss on the answer only; LoRA merged into
        OUT/final on the cpu profile), with the share of unconstrained answers that compile into a recipe on the
        --eval-task tasks before and after. Writes OUT/final (the policy), OUT/corpus.jsonl, OUT/train.json and
        OUT/sft.json."""
        from .adapt.train import resolve_base, train_sft
        from .io import write_json_atomic
        from .llm import make_client
        from .rl.reward import RolloutTask
        from .rl.sft import demos_to_corpus, executability, read_demos, sft_config

        read_demos(demos)  # a bad file is reported before anything is written
        config = sft_config(profile, epochs=epochs, lr=lr, max_steps=max_steps, seed=seed)
        tasks = [RolloutTask.load(t) for t in (eval_task or [])]
        set_torch_threads(threads)
        log = None if quiet else _log
        n = demos_to_corpus(demos, out / "corpus.jsonl")

        def measure(model: str) -> dict | None:
            if not tasks:
                return None
            # No request cache: a model retrained in the same folder must not be answered from the old one's.
            return executability(make_client("local", model=model, cache_dir=False), tasks, n=eval_n,
                                 temperature=eval_temperature, seed=seed).as_dict()

        before = measure(resolve_base(base))
        result = train_sft(out / "corpus.jsonl", base, out, config, resume=resume, log=log)
        after = measure(str(result.final_dir))
        report = {"demonstrations": n, "samples": result.samples, "steps": result.steps,
                  "final_loss": result.final_loss, "seconds": round(result.seconds, 1),
                  "executability_before": before, "executability_after": after}
        write_json_atomic(out / "sft.json", report)
        line = f"trained on {result.samples} demonstrations, {result.steps} steps, final loss {result.final_loss}"
        if before is not None and after is not None:
            line += (f"; unconstrained executability {before['rate']:.0%} -> {after['rate']:.0%} "
                     f"({len(tasks)} tasks x {eval_n})")
        typer.echo(f"{line}; wrote {result.final_dir} and {out / 'sft.json'}")

