"""`datachef rl ...`: teaching the chef by reinforcement learning. Registered on the main app by cli.py:
`rl demos` (cold-start demonstrations by rejection sampling), `rl sft` (cold-start SFT of the policy) and
`rl grpo` (GRPO on the verifier reward)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from .cli_options import (BaseModelOption, CacheDir, ChefBaseUrl, Executor, Judge, JudgeBaseUrl, JudgeModel, OutDir,
                          Profile, RayAddress, Sample, Seed, TeacherModel, Threads, set_torch_threads)

TEACHERS = ("probe", "chef")


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


InstancesOption = Annotated[Optional[Path], typer.Option(help="Folder of task instances (`datachef pool sample`: "
                                                              "its instances.jsonl).")]
TasksOption = Annotated[Optional[list[Path]], typer.Option("--task", help="Task YAML (repeatable); with or instead "
                                                                         "of --instances.")]
RlReward = Annotated[Literal["composite", "paper", "sparse"], typer.Option(
    help="composite (the verifier's composite score) | paper (the mean rubric score) | sparse (1 for any recipe "
         "that runs: the paper's ablation).")]


def _task_files(instances: Path | None, task: list[Path] | None) -> list[Path]:
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
    return files


def register(app: typer.Typer, make_app) -> None:
    rl_app = make_app(help="Teach the chef by reinforcement learning: demonstrations, the cold-start SFT, GRPO on "
                           "the verifier reward.", no_args_is_help=True)
    app.add_typer(rl_app, name="rl")

    @rl_app.command("demos")
    def rl_demos(out: OutDir = Path("runs/rl-demos"), instances: InstancesOption = None, task: TasksOption = None,
                 teacher: Annotated[Optional[list[str]], typer.Option(
                     help="probe (offline: each source scored alone, then the best ones combined) | chef (the "
                          "--chef model's typed drafts). Repeatable; default probe.")] = None,
                 chef: Annotated[Literal["local", "openai"], typer.Option(help="Chef of the chef teacher.")]
                 = "local",
                 model: TeacherModel = None, base_url: ChefBaseUrl = None,
                 n: Annotated[int, typer.Option("--n", min=1, help="Drafts per instance of the chef teacher.")] = 4,
                 threshold: Annotated[float, typer.Option(help="Keep answers whose reward is at least this.")]
                 = 0.5,
                 per_instance: Annotated[int, typer.Option(min=1, help="Demonstrations kept per instance at most "
                                                                       "(best first, one per program).")] = 3,
                 judge: Judge = "local", judge_model: JudgeModel = None, judge_base_url: JudgeBaseUrl = None,
                 sample: Sample = 100, reward: RlReward = "composite", seed: Seed = 0, threads: Threads = 0,
                 cache_dir: CacheDir = None, executor: Executor = "local", address: RayAddress = None,
                 quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No log lines.")] = False) -> None:
        """Demonstrations for the cold-start SFT: for each task instance, teachers propose recipes in the policy's
        compact form; each is executed and verified, and those scoring at least --threshold are kept. Writes
        OUT/demos.jsonl (instance, task, prompt, completion, reward, teacher), OUT/instances/ (every scored proposal;
        a re-run skips finished instances) and OUT/summary.json."""
        from .llm import ClientSpec
        from .rl import RecipeReward, RewardConfig
        from .rl.demos import ChefTeacher, DemoConfig, ProbeTeacher, make_demos
        from .verifier.scoring import scorers_for

        files = _task_files(instances, task)
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
        reward_config = RewardConfig(kind=reward, sample=sample, seed=seed, cache_dir=cache_dir)
        with scorers_for(executor, address, judge_spec.build, reward_config.scoring_config(), log) as scorers:
            judge_client = judge_spec.build() if scorers is None else None
            scorer = RecipeReward(reward_config, judge=judge_client, scorers=scorers, work_dir=out / "runs")
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

    @rl_app.command("grpo")
    def rl_grpo(out: OutDir = Path("runs/rl-grpo"), instances: InstancesOption = None, task: TasksOption = None,
                sft: Annotated[Optional[Path], typer.Option(help="Cold start: an `rl sft` output folder (its final "
                                                                 "model is where GRPO starts).")] = None,
                cold_start: Annotated[bool, typer.Option(
                    "--cold-start/--no-cold-start", help="--no-cold-start: start from --base itself, without the "
                                                         "SFT (the paper's ablation).")] = True,
                base: BaseModelOption = None,
                profile: Annotated[Literal["cpu", "gpu"], typer.Option(
                    help="cpu: LoRA, G=4, 2 instances a step | gpu: the paper's values (G=8, 16 instances a step, "
                         "lr 5e-7, full fine-tuning, vLLM rollouts when installed).")] = "cpu",
                group_size: Annotated[Optional[int], typer.Option(min=2, help="G: recipes per task instance.")]
                = None,
                prompts_per_step: Annotated[Optional[int], typer.Option(min=1, help="Task instances per step.")]
                = None,
                lr: Annotated[Optional[float], typer.Option(help="Learning rate.")] = None,
                beta: Annotated[Optional[float], typer.Option(min=0.0, help="KL weight.")] = None,
                epsilon: Annotated[Optional[float], typer.Option(help="Clip range of the ratio.")] = None,
                temperature: Annotated[Optional[float], typer.Option(help="Rollout temperature.")] = None,
                max_completion_tokens: Annotated[Optional[int], typer.Option(min=8, help="Tokens per "
                                                                                         "completion.")] = None,
                max_steps: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many steps.")] = None,
                epochs: Annotated[Optional[float], typer.Option(help="Passes over the instances.")] = None,
                decoding: Annotated[Optional[Literal["free", "constrained"]], typer.Option(
                    help="free (the policy writes the JSON) | constrained (the task's grammar; forced tokens "
                         "out of the loss).")] = None,
                save_steps: Annotated[Optional[int], typer.Option(min=1, help="Checkpoint every N steps.")] = None,
                judge: Judge = "local", judge_model: JudgeModel = None, judge_base_url: JudgeBaseUrl = None,
                sample: Sample = 30, reward: RlReward = "composite",
                executor: Annotated[Literal["local", "ray"], typer.Option(
                    help="Where rewards are computed: ray (worker processes sharing the step cache; a crash or "
                         "hang is that recipe's penalty) | local (this process).")] = "ray",
                address: RayAddress = None, cache_dir: CacheDir = None,
                resume: Annotated[bool, typer.Option(help="Continue from OUT's latest checkpoint.")] = False,
                seed: Seed = 0, threads: Threads = 0,
                quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No log lines.")] = False) -> None:
        """GRPO of the policy on the verifier reward (TRL's GRPOTrainer): each step samples G compact recipes for
        each of a few task instances, executes and verifies them (penalties for what is not a recipe or does not
        run) and updates the policy on the group-normalised rewards. Writes OUT/final (the policy: `cook` /
        `chef-eval --chef local --model OUT/final --mode compact`), OUT/adapter (LoRA), OUT/metrics.jsonl,
        OUT/rollouts.jsonl, OUT/grpo.json and OUT/report.html; --resume continues from the last checkpoint."""
        from .llm import ClientSpec
        from .rl import RecipeReward, RewardConfig
        from .rl.grpo import GPU_BASE, grpo_settings, summarize, train_grpo
        from .verifier.scoring import scorers_for

        files = _task_files(instances, task)
        from .adapt.train import world_size

        if executor == "ray" and address is None and world_size() > 1:
            raise typer.BadParameter("under accelerate each process would start its own Ray: start one (`ray start "
                                     "--head`) and pass --address auto, or use --executor local",
                                     param_hint="--executor")
        if cold_start:
            if sft is None:
                raise typer.BadParameter("give the cold start's folder (`datachef rl sft --out DIR`), or "
                                         "--no-cold-start to start from --base", param_hint="--sft")
            if not (sft / "final" / "config.json").is_file():
                raise typer.BadParameter(f"{sft / 'final'} holds no model (run `datachef rl sft --out {sft}`)",
                                         param_hint="--sft")
            start = str(sft / "final")
        else:
            if sft is not None:
                raise typer.BadParameter("--no-cold-start starts from --base; drop --sft", param_hint="--sft")
            start = base if base is not None else (GPU_BASE if profile == "gpu" else None)
        settings = grpo_settings(profile, group_size=group_size, prompts_per_step=prompts_per_step, lr=lr, beta=beta,
                                 epsilon=epsilon, temperature=temperature, max_completion_tokens=max_completion_tokens,
                                 max_steps=max_steps, epochs=epochs, decoding=decoding, save_steps=save_steps,
                                 seed=seed)
        judge_spec = ClientSpec("judge", judge, judge_model, judge_base_url)
        set_torch_threads(threads)
        log = None if quiet else _log
        reward_config = RewardConfig(kind=reward, sample=sample, seed=seed, cache_dir=cache_dir)
        with scorers_for(executor, address, judge_spec.build, reward_config.scoring_config(), log) as scorers:
            scorer = RecipeReward(reward_config, judge=judge_spec.build() if scorers is None else None,
                                  scorers=scorers, work_dir=out / "rewards")
            result = train_grpo(files, start, out, settings, reward=scorer, resume=resume,
                                cold_start=str(sft) if cold_start else None, log=log)
        s = summarize(result.metrics)
        line = f"{result.steps} GRPO steps in {result.seconds:.0f} s"
        if s:
            line += (f"; reward {s['reward_first']} -> {s['reward_last']}, executability "
                     f"{s['executability_first']} -> {s['executability_last']} (first/last {s['window']} steps)")
        typer.echo(f"{line}; wrote {result.final_dir}, {out / 'metrics.jsonl'} and {out / 'report.html'}")

    @rl_app.command("export")
    def rl_export(model: Annotated[Path, typer.Argument(help="The trained policy: a model folder (`rl grpo` or `rl "
                                                              "sft`: OUT/final).")],
                  out: OutDir = Path("runs/rl-adapter"),
                  base: BaseModelOption = None,
                  rank: Annotated[int, typer.Option(min=1, help="LoRA rank of the exported adapter (size grows "
                                                               "with it; export.json says how much of the change "
                                                               "it keeps).")] = 8,
                  dtype: Annotated[Literal["float16", "bfloat16", "float32"],
                                   typer.Option(help="Dtype of the adapter's weights.")] = "float16") -> None:
        """Export a trained policy as a small LoRA adapter over its base model: the best rank-r fit of what training
        changed (truncated SVD per projection), in PEFT's format, with export.json (how much of the change it keeps,
        the training runs it came from). The adapter packaged as datachef's embedded chef (`--model chef`) is one."""
        from .rl.export import export_adapter

        r = export_adapter(model, out, base=base, rank=rank, dtype=dtype)
        typer.echo(f"rank {r.rank} adapter over {r.modules} modules: {r.parameters:,} parameters, "
                   f"{r.bytes / 2**20:.1f} MiB, keeps all but {100 * r.relative_error:.1f}% of the change "
                   f"(Frobenius norm; the least-kept module keeps {100 * r.min_kept:.1f}% of its own); wrote {out}")
