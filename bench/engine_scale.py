"""The engine bench's pipeline at scale: datachef's local executor vs its Ray executor vs Data-Juicer's Ray executor,
on the same data in one run.

    python bench/engine_scale.py [--sizes 200000,1000000] [--dj-python /tmp/djvenv/bin/python]
                                 [--dj-sizes 200000] [--num-cpus 2] [--object-store-mb 512]
                                 [--workdir DIR] [--json PATH]

Data and recipe are engine_throughput.py's (synthetic math word problems with ~5% each of planted exact copies, near
copies and junk; load -> quality_filter -> dedup_exact -> dedup_near(0.72) -> to_chat). Each run is a fresh child
process with a fresh step cache:

- local: `run_recipe` in one process.
- ray:   the same `run_recipe(executor="ray")` on a local Ray (--num-cpus CPUs, --object-store-mb object store)
         started in the child; the corpus is checked byte-identical to the local one.
- dj:    bench/dj_ray_pipeline.py under --dj-python (a venv with py-data-juicer and the same Ray), its own local Ray
         with the same settings (see that script for the op mapping; Data-Juicer is not a project dependency).

Printed per run: rows/s (wall, Ray start excluded and shown apart), rows per CPU-second (driver + every Ray process),
peak RSS of the driver, and the peak of the summed RSS of the Ray worker processes (sampled every 0.5 s; shared
pages are counted once per process, so this overstates what they hold together).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import engine_throughput as et  # noqa: E402  - the engine bench's data and recipe
from dj_ray_pipeline import RaySampler  # noqa: E402  - the same Ray memory/CPU sampler for every tool

DJ_SCRIPT = HERE / "dj_ray_pipeline.py"


def child_main(spec: dict[str, Any]) -> dict[str, Any]:
    import resource

    import datachef.ops
    from datachef.engine import run_recipe
    from datachef.io import load_recipe, load_task

    datachef.ops.load_all()
    folder = Path(spec["folder"])
    task_path, recipe_path = et.write_task(folder, Path(spec["data"]), spec["n"])
    task, recipe = load_task(task_path), load_recipe(recipe_path)
    shutil.rmtree(folder / "cache", ignore_errors=True)
    shutil.rmtree(folder / "out", ignore_errors=True)
    sampler = RaySampler(None)  # this process's descendants: the Ray it starts
    start_s = 0.0
    session: Any = None
    if spec["executor"] == "ray":
        from datachef.engine.ray_session import ray_session

        t = time.perf_counter()
        session = ray_session(num_cpus=spec["num_cpus"], object_store_mb=spec["object_store_mb"])
        session.__enter__()
        start_s = time.perf_counter() - t
    sampler.start()
    cpu0 = et._cpu_s()
    t0 = time.perf_counter()
    manifest = run_recipe(recipe, task, folder / "out", cache_dir=folder / "cache", progress=False,
                          executor=spec["executor"])
    wall = time.perf_counter() - t0
    driver_cpu = et._cpu_s() - cpu0
    time.sleep(0.6)  # one more sample of the workers' CPU times
    sampler.stop()
    ray_cpu = sampler.cpu_total()
    if session is not None:
        session.__exit__(None, None, None)
    rows_in = manifest.steps[0].rows_in
    return {"tool": f"datachef-{spec['executor']}", "n": spec["n"], "rows_in": rows_in,
            "rows_out": manifest.output.records, "wall_s": round(wall, 2), "start_s": round(start_s, 2),
            "rows_per_s": round(rows_in / wall, 1), "cpu_s": round(driver_cpu + ray_cpu, 1),
            "rows_per_cpu_s": round(rows_in / (driver_cpu + ray_cpu), 1),
            "driver_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "driver_private_mib": round(sampler.peak_self_private / 2**20, 1),
            "workers_peak_mib": round(sampler.peak_worker_rss / 2**20, 1) if session is not None else None,
            "workers_private_mib": round(sampler.peak_worker_private / 2**20, 1) if session is not None else None,
            "steps": [{"id": s.id, "rows_in": s.rows_in, "rows_out": s.rows_out, "dropped": dict(s.dropped),
                       "seconds": round(s.seconds, 2)} for s in manifest.steps]}


def run_child(executor: str, folder: Path, data: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = json.dumps({"executor": executor, "folder": str(folder), "data": str(data), "n": n,
                       "num_cpus": args.num_cpus, "object_store_mb": args.object_store_mb})
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", spec], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{executor} run (N={n}) failed with exit code {proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_dj(python: str, folder: Path, data: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "dj.log", "w", encoding="utf-8") as err:
        proc = subprocess.run([python, str(DJ_SCRIPT), "--input", str(data), "--workdir", str(folder / "work"),
                               "--num-cpus", str(args.num_cpus), "--object-store-mb", str(args.object_store_mb)],
                              stdout=subprocess.PIPE, stderr=err, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"Data-Juicer run failed ({folder / 'dj.log'})")
    r = json.loads(proc.stdout)
    shutil.rmtree(folder / "work", ignore_errors=True)
    return {"tool": "data-juicer-ray", "n": n, "rows_in": r["rows_in"], "rows_out": r["rows_out"],
            "wall_s": round(r["wall_s"], 2), "start_s": round(r["cluster_start_s"], 2),
            "rows_per_s": r["rows_per_s"], "cpu_s": round(r["cpu_s"], 1), "rows_per_cpu_s": r["rows_per_cpu_s"],
            "driver_peak_mib": r["driver_peak_rss_mib"], "driver_private_mib": None,
            "workers_peak_mib": r["ray_workers_peak_rss_mib"],
            "workers_private_mib": r["ray_workers_peak_rss_minus_shared_mib"],
            "dropped": r["dropped"]}


def print_table(results: list[dict[str, Any]], out=sys.stdout) -> None:
    """Memory columns: peak RSS (and RSS minus shared pages) of the driver; peak summed RSS (and summed RSS minus
    shared pages) of the Ray worker processes."""
    def mem(a: Any, b: Any) -> str:
        return "-" if a is None else f"{a:.0f}" + ("" if b is None else f" ({b:.0f})")

    print(f"{'tool':<18} {'rows':>9} {'out':>9} {'wall s':>8} {'start s':>8} {'rows/s':>9} {'rows/CPU-s':>11} "
          f"{'driver MiB':>14} {'workers MiB':>14}", file=out)
    for r in results:
        print(f"{r['tool']:<18} {r['n']:>9} {r['rows_out'] or 0:>9} {r['wall_s']:>8} {r.get('start_s') or 0:>8} "
              f"{r['rows_per_s']:>9} {r['rows_per_cpu_s'] or 0:>11} "
              f"{mem(r['driver_peak_mib'], r.get('driver_private_mib')):>14} "
              f"{mem(r.get('workers_peak_mib'), r.get('workers_private_mib')):>14}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--dj-python", default=None, help="interpreter with py-data-juicer (skipped when not given)")
    ap.add_argument("--dj-sizes", default=None, help="sizes Data-Juicer runs (default: --sizes)")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--object-store-mb", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child_main(json.loads(args.child))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    dj_sizes = [int(s) for s in (args.dj_sizes or args.sizes).split(",")]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="engine-scale-"))
    results = []
    try:
        for n in sizes:
            data = work / f"rows-{n}.jsonl"
            if not data.exists():
                et.generate(data, n, args.seed)
            print(f"N={n}: {data.stat().st_size / 2**20:.0f} MiB, load {os.getloadavg()[0]:.1f}", file=sys.stderr)
            runs = {ex: run_child(ex, work / f"{ex}-{n}", data, n, args) for ex in ("local", "ray")}
            same = (work / f"local-{n}" / "out" / "data.jsonl").read_bytes() == \
                (work / f"ray-{n}" / "out" / "data.jsonl").read_bytes()
            runs["ray"]["same_corpus_as_local"] = same
            results.extend(runs.values())
            if args.dj_python and n in dj_sizes:
                results.append(run_dj(args.dj_python, work / f"dj-{n}", data, n, args))
            for ex in ("local", "ray"):  # outputs are large: keep only the figures
                shutil.rmtree(work / f"{ex}-{n}", ignore_errors=True)
            print_table(results[-3:], out=sys.stderr)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    for r in results:
        if "same_corpus_as_local" in r:
            print(f"N={r['n']}: Ray corpus byte-identical to local: {r['same_corpus_as_local']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
