"""The Data-Juicer (Ray executor) equivalent of the engine_throughput recipe, for a side-by-side throughput figure.

Runs under a separate interpreter that has Data-Juicer and Ray (e.g. /tmp/djvenv/bin/python); it must not import
datachef. Tested with py-data-juicer 1.6.1 + ray[data] 2.60.0 + aiohttp (Data-Juicer imports aiohttp without
declaring it):

    python3 -m venv /tmp/djvenv && /tmp/djvenv/bin/pip install 'py-data-juicer==1.6.1' aiohttp 'ray[data]==2.60.0'

    python bench/dj_ray_pipeline.py --input rows.jsonl --workdir DIR [--json OUT] [--address ADDR]
                                    [--num-cpus 2] [--object-store-mb 512]

Without --address a local Ray is started here, before Data-Juicer touches Ray (RAY_USAGE_STATS_ENABLED=0, no
dashboard, --num-cpus CPUs, --object-store-mb of object store, a short temp dir under /tmp that is removed
afterwards), and shut down at the end; Data-Juicer's own `ray.init` then finds it running and is a no-op. With
--address the script connects to that cluster instead and leaves it running (a cluster started with Ray 2.60's
`ray start` uses token authentication by default: run this script with RAY_AUTH_MODE=token then, or start the
cluster with RAY_AUTH_MODE=disabled).

Pipeline: one Data-Juicer `RayExecutor` (data_juicer.core.executor.ray_executor) run, configured by a generated YAML
(DIR/config.yaml), reading the jsonl with DJ's Ray json reader and writing jsonl with DJ's RayExporter:

  1. python_lambda_mapper (batched): text = question + "\\n" + answer (what datachef's filters read; datatrove's
     reader adapter does the same).
  2. Quality filters. datachef's quality_filter (src/datachef/ops/quality.py) runs ten Gopher/C4-style checks;
     Data-Juicer has direct analogues for three of them, which are also the three that catch the planted junk
     (spam / symbol soup / too short). None of them needs a model, a tokenizer or an NLTK download (all use
     str-split + Data-Juicer's built-in SPECIAL_CHARACTERS set):
       - words_num_filter(min_num=5, max_num=100000)   ~ min_words=5 / max_words=100000. DJ strips punctuation and
         digits from each whitespace word before counting, so "12 + 30?" counts 0 words (datachef: 3).
       - special_characters_filter(max_ratio=0.5)      ~ max_symbol_ratio=0.4. DJ's ratio also counts whitespace
         and digits as special (clean rows here score 0.25-0.37, so its default 0.25 would drop nearly all of
         them); the limit is datachef's 0.4 plus the ~1/6 whitespace share of the remaining 0.6 of the text.
       - word_repetition_filter(rep_len=4, max_ratio=0.35) ~ max_top_ngram_fraction=0.35 over 2/3/4-grams. DJ's
         metric is the share of word 4-gram occurrences that belong to a repeated 4-gram (not the character coverage
         of the single top n-gram); clean rows score <= 0.1 here, spam >= 0.9.
     Not mirrored (no DJ op, or only a different metric): mean word length, duplicate-line fraction, longest run of
     one character (character_repetition_filter measures char 10-gram repetition instead), alpha-word fraction
     (alphanumeric_filter's token mode needs a HF tokenizer download), ellipsis lines. The stopwords and
     flagged-words filters are not used: they download their word lists on first use.
  3. ray_document_deduplicator(lowercase=True): exact dedup on Ray (MD5 of the lower-cased, stripped text, one
     Ray-actor set lookup per row). datachef also ignores punctuation/whitespace differences; DJ's
     ignore_non_character would also drop digits, so it stays off (the planted duplicates are byte-identical).
  4. ray_bts_minhash_deduplicator: MinHash-LSH on Ray, jaccard_threshold=0.72, word 5-grams (tokenization=space,
     window_size=5), 128 permutations, lower-cased, punctuation/symbols removed first (ignore_pattern [^\\w\\s]|_,
     datachef's own punctuation class). DJ derives the LSH split from threshold and permutations (12 bands x 10
     rows for 0.72/128) and does not verify candidate pairs (datachef does by default).
  5. python_lambda_mapper (batched): to_chat, {"id", "messages": [{"role": "user", "content": question},
     {"role": "assistant", "content": answer}]}, like datachef's messages output; it also drops `text` and DJ's
     `__dj__stats__` column.

Prints one JSON object (and writes it to --json): wall_s = executor.run() (load, process, export; Ray start and
Data-Juicer's config/executor setup are excluded and reported as cluster_start_s / setup_s), rows in/out, rows/s,
CPU seconds (driver_cpu_s from getrusage; ray_cpu_s = CPU of the Ray processes this script started, from psutil
samples; cpu_s = both), rows left after each stage and rows dropped per stage (Data-Juicer's Ray executor only
reports input and output counts; these come from Ray Data's own per-operator row metrics, read by an
ExecutionCallback after each execution, at no extra cost), driver peak RSS, and Ray memory sampled every 0.5 s with
psutil: ray_workers_peak_rss_mib = peak of the summed RSS of processes whose cmdline contains 'ray::' or
'default_worker' (this includes the per-node ray::DashboardAgent and ray::RuntimeEnvAgent daemons;
..._excl_agents_... leaves them out; ..._minus_shared_... subtracts each process's resident shared pages, i.e.
shared libraries and touched object-store memory that a plain RSS sum counts once per process), ray_all = every
Ray process (gcs, raylet, agents, workers). Only this run's Ray session is sampled (local: this process's
descendants; --address: that session's processes on this machine), so another Ray on the same machine is not
counted. ray_data_executions lists every Ray Data execution with its
operators' row counts and duration. Only the JSON goes to stdout: Data-Juicer's and Ray's logs go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

NEAR_THRESHOLD = 0.72
NUM_PERM = 128
NGRAM = 5

# Data-Juicer op list (the `process` section of the generated config).
TEXT_LAMBDA = "lambda s: {**s, 'text': [q + '\\n' + a for q, a in zip(s['question'], s['answer'])]}"
CHAT_LAMBDA = ("lambda s: {'id': s['id'], 'messages': [[{'role': 'user', 'content': q}, "
               "{'role': 'assistant', 'content': a}] for q, a in zip(s['question'], s['answer'])]}")
PROCESS = [
    {"python_lambda_mapper": {"lambda_str": TEXT_LAMBDA, "batched": True}},
    {"words_num_filter": {"lang": "en", "tokenization": False, "min_num": 5, "max_num": 100_000}},
    {"special_characters_filter": {"min_ratio": 0.0, "max_ratio": 0.5}},
    {"word_repetition_filter": {"lang": "en", "tokenization": False, "rep_len": 4, "min_ratio": 0.0,
                                "max_ratio": 0.35}},
    {"ray_document_deduplicator": {"backend": "ray_actor", "lowercase": True, "ignore_non_character": False}},
    {"ray_bts_minhash_deduplicator": {"tokenization": "space", "window_size": NGRAM, "lowercase": True,
                                      "ignore_pattern": r"[^\w\s]|_", "num_permutations": NUM_PERM,
                                      "jaccard_threshold": NEAR_THRESHOLD}},
    {"python_lambda_mapper": {"lambda_str": CHAT_LAMBDA, "batched": True}},
]


def _maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def _self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _count_lines(folder: Path) -> int:
    n = 0
    for p in sorted(folder.rglob("*.json*")):
        with open(p, "rb") as f:
            n += sum(1 for _ in f)
    return n


# --------------------------------------------------------------------------------------------------------------------
# Ray process sampler
# --------------------------------------------------------------------------------------------------------------------
AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")  # per-node daemons whose process title also starts "ray::"


class RaySampler(threading.Thread):
    """Every `interval` s: summed RSS of Ray worker processes (cmdline contains 'ray::' or 'default_worker'), summed
    RSS of all Ray processes, and the CPU seconds of each. Only the processes of this Ray session are looked at, so
    another Ray on the same machine is not counted: with a local cluster, this process's descendants; with --address,
    the processes on this machine whose cmdline names the session's directory (gcs, raylet, agents) and their
    descendants (the workers, whose cmdline Ray rewrites to 'ray::...'). Processes on other nodes are not seen."""

    def __init__(self, session_dir: str | None, interval: float = 0.5):
        super().__init__(daemon=True, name="ray-rss-sampler")
        import psutil

        self.psutil = psutil
        self.session_dir = session_dir
        self.interval = interval
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.peak_worker_rss = self.peak_worker_private = self.peak_task_rss = self.peak_all_rss = 0
        self.peak_workers = 0
        self.peak_self_private = 0  # this (driver) process: RSS minus shared pages
        self.cpu: dict[int, float] = {}  # pid -> last seen user+system CPU seconds (cumulative per process)
        self.samples = 0
        self.me = psutil.Process()

    def _procs(self) -> list:
        ps = self.psutil
        if self.session_dir is None:
            roots = [self.me]
        else:
            roots = []
            for p in ps.process_iter():
                try:
                    if p.pid != self.me.pid and any(self.session_dir in a for a in p.cmdline()):
                        roots.append(p)
                except ps.Error:
                    continue
        found = {p.pid: p for p in roots if p.pid != self.me.pid}
        for r in roots:
            try:
                found.update((c.pid, c) for c in r.children(recursive=True))
            except ps.Error:
                continue
        return list(found.values())

    def sample(self) -> None:
        ps = self.psutil
        worker_rss = worker_private = task_rss = all_rss = workers = 0
        cpu = {}
        for p in self._procs():
            try:
                with p.oneshot():
                    cmd = " ".join(p.cmdline())
                    mem = p.memory_info()
                    t = p.cpu_times()
            except ps.Error:
                continue
            all_rss += mem.rss
            cpu[p.pid] = t.user + t.system
            if "ray::" in cmd or "default_worker" in cmd:
                worker_rss += mem.rss
                worker_private += mem.rss - getattr(mem, "shared", 0)
                workers += 1
                if not any(a in cmd for a in AGENTS):
                    task_rss += mem.rss
        try:
            own = self.me.memory_info()
            self_private = own.rss - getattr(own, "shared", 0)
        except ps.Error:
            self_private = 0
        with self.lock:
            self.samples += 1
            self.peak_self_private = max(self.peak_self_private, self_private)
            self.peak_worker_rss = max(self.peak_worker_rss, worker_rss)
            self.peak_worker_private = max(self.peak_worker_private, worker_private)
            self.peak_task_rss = max(self.peak_task_rss, task_rss)
            self.peak_all_rss = max(self.peak_all_rss, all_rss)
            self.peak_workers = max(self.peak_workers, workers)
            self.cpu.update(cpu)

    def cpu_total(self) -> float:
        with self.lock:
            return sum(self.cpu.values())

    def reset_peaks(self) -> None:
        with self.lock:
            self.peak_worker_rss = self.peak_worker_private = self.peak_task_rss = 0
            self.peak_all_rss = self.peak_workers = self.peak_self_private = 0

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=5)


# --------------------------------------------------------------------------------------------------------------------
# Per-operator row counts from Ray Data (free: read from the executor's metrics after each execution)
# --------------------------------------------------------------------------------------------------------------------
EXECUTIONS: list[dict] = []


def _install_row_callback() -> None:
    """Record, for every Ray Data execution in this driver, its duration and each physical operator's input and
    output row counts (Ray Data's own metrics, read after the execution: costs nothing while it runs)."""
    from ray.data import DataContext
    from ray.data._internal.execution.execution_callback import ExecutionCallback

    class RowCounts(ExecutionCallback):
        def before_execution_starts(self, executor) -> None:
            self.t0 = time.perf_counter()

        def after_execution_succeeds(self, executor) -> None:
            ops = []
            try:  # private API: never let it break the run
                for op in (executor._topology or {}).keys():
                    m = op.metrics
                    ops.append({"op": op.name, "rows_in": int(getattr(m, "num_row_inputs_received", 0) or 0),
                                "rows_out": int(getattr(m, "row_outputs_taken", 0) or 0)})
            except Exception as e:
                ops.append({"op": f"<error {e!r}>", "rows_in": None, "rows_out": None})
            EXECUTIONS.append({"seconds": time.perf_counter() - getattr(self, "t0", time.perf_counter()), "ops": ops})

    ctx = DataContext.get_current()
    ctx.custom_execution_callback_classes = list(ctx.custom_execution_callback_classes) + [RowCounts]


def _stage_counts(executions: list[dict]) -> dict:
    """Rows left after each stage, from the Ray Data operators Data-Juicer's ops turn into (None where not found):

    - ray_document_deduplicator materialises the quality-filtered rows (with their hashes) before dropping
      duplicates, so the next execution, the one that runs BTS MinHash's `minhash_with_uid` and writes its parquet
      scratch, starts from them: its Input rows = rows after the quality filters;
    - the final execution reads that scratch back (ReadParquet... output = rows after exact dedup) and drops near
      duplicates in `filter_with_union_find` (its output = rows after MinHash dedup; the fused chat mapper keeps
      every row)."""
    quality = exact = near = None
    for ex in executions:
        names = [o["op"] for o in ex["ops"]]
        if any("minhash_with_uid" in n for n in names):
            inp = [o for o in ex["ops"] if o["op"] == "Input"]
            mh = [o for o in ex["ops"] if "minhash_with_uid" in o["op"]][0]
            quality = inp[0]["rows_out"] if inp else mh["rows_in"]
        if any("filter_with_union_find" in n for n in names):
            rp = [o for o in ex["ops"] if "Parquet" in o["op"]]
            exact = rp[0]["rows_out"] if rp else None
            near = [o for o in ex["ops"] if "filter_with_union_find" in o["op"]][0]["rows_out"]
    return {"after_quality": quality, "after_exact": exact, "after_near": near}


# --------------------------------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------------------------------
def write_config(input_file: Path, workdir: Path) -> Path:
    import yaml

    cfg = {
        "project_name": "dj_ray_pipeline",
        "executor_type": "ray",
        "ray_address": "auto",  # ignored: Ray is already initialised when Data-Juicer calls ray.init
        "dataset_path": str(input_file),
        "export_path": str(workdir / "output"),
        "export_type": "jsonl",
        "work_dir": str(workdir),
        "text_keys": "text",
        "skip_op_error": False,  # DJ's default (True) turns an op error into silently dropped batches
        "open_tracer": False,
        "op_fusion": False,
        "keep_stats_in_res_ds": False,
        "keep_hashes_in_res_ds": False,
        "process": PROCESS,
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def run(input_file: Path, workdir: Path, *, address: str | None, num_cpus: int, object_store_mb: int) -> dict:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    with open(input_file, "rb") as f:
        rows_in = sum(1 for _ in f)

    import ray

    ray_tmp = None
    t = time.perf_counter()
    if address:
        ray.init(address=address, runtime_env={"env_vars": {"RAY_JOB": "1"}}, log_to_driver=True)
    else:
        ray_tmp = tempfile.mkdtemp(prefix="djr", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
        ray.init(num_cpus=num_cpus, object_store_memory=object_store_mb * 1024 * 1024, include_dashboard=False,
                 _temp_dir=ray_tmp, runtime_env={"env_vars": {"RAY_JOB": "1"}}, log_to_driver=True)
    cluster_start_s = time.perf_counter() - t
    session_dir = None
    if address:
        try:
            session_dir = ray._private.worker._global_node.get_session_dir_path()
        except Exception:  # private API; fall back to an empty sample set rather than another user's processes
            session_dir = "<unknown ray session>"
    sampler = RaySampler(session_dir)
    sampler.start()
    try:
        _install_row_callback()
        from data_juicer.config import init_configs
        from data_juicer.core.executor.ray_executor import RayExecutor

        t = time.perf_counter()
        cfg = init_configs(["--config", str(write_config(input_file, workdir))])
        executor = RayExecutor(cfg)
        setup_s = time.perf_counter() - t

        sampler.sample()
        sampler.reset_peaks()
        ray_cpu0, cpu0 = sampler.cpu_total(), _self_cpu_s()
        n_exec0 = len(EXECUTIONS)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        executor.run()
        wall = time.perf_counter() - t0
        cpu = _self_cpu_s() - cpu0
        load1 = os.getloadavg()[0]
        sampler.sample()
        ray_cpu = sampler.cpu_total() - ray_cpu0
    finally:
        sampler.stop()
        ray.shutdown()  # local: stops the cluster; --address: only disconnects this driver
        if ray_tmp:
            shutil.rmtree(ray_tmp, ignore_errors=True)

    out_dir = Path(cfg.export_path)
    rows_out = _count_lines(out_dir)
    stages = _stage_counts(EXECUTIONS[n_exec0:])
    q, e, n = stages["after_quality"], stages["after_exact"], stages["after_near"]
    dropped = {"quality (words_num, special_characters, word_repetition)": None if q is None else rows_in - q,
               "exact dedup (ray_document_deduplicator)": None if None in (q, e) else q - e,
               "minhash dedup (ray_bts_minhash_deduplicator)": None if None in (e, n) else e - n}
    total_cpu = cpu + ray_cpu
    return {
        "tool": "data-juicer",
        "version": _version(),
        "executor": "RayExecutor",
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_after_stage": stages,
        "dropped": dropped,
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows_in / wall, 1) if wall else None,
        "cluster_start_s": round(cluster_start_s, 3),
        "setup_s": round(setup_s, 3),
        "driver_cpu_s": round(cpu, 3),
        "ray_cpu_s": round(ray_cpu, 3),
        "cpu_s": round(total_cpu, 3),
        "rows_per_cpu_s": round(rows_in / total_cpu, 1) if total_cpu else None,
        "driver_peak_rss_mib": round(_maxrss_mib(resource.RUSAGE_SELF), 1),
        "ray_workers_peak_rss_mib": round(sampler.peak_worker_rss / 2**20, 1),
        "ray_workers_excl_agents_peak_rss_mib": round(sampler.peak_task_rss / 2**20, 1),
        "ray_workers_peak_rss_minus_shared_mib": round(sampler.peak_worker_private / 2**20, 1),
        "ray_all_peak_rss_mib": round(sampler.peak_all_rss / 2**20, 1),
        "ray_workers_peak_count": sampler.peak_workers,
        "rss_samples": sampler.samples,
        "load_avg_1m": [round(load0, 2), round(load1, 2)],
        "config": {"ray": address or f"local, num_cpus={num_cpus}, object_store={object_store_mb} MiB",
                   "minhash": f"{NUM_PERM} perms, word {NGRAM}-grams, jaccard {NEAR_THRESHOLD}",
                   "process": [next(iter(op)) for op in PROCESS]},
        "ray_data_executions": [{"seconds": round(ex["seconds"], 3),
                                 "ops": [f"{o['op']}: {o['rows_in']} -> {o['rows_out']} rows" for o in ex["ops"]]}
                                for ex in EXECUTIONS[n_exec0:]],
        "output": str(out_dir),
    }


def _version() -> str:
    from importlib.metadata import version

    return version("py-data-juicer")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, type=Path, help="jsonl with id/question/answer fields")
    ap.add_argument("--workdir", required=True, type=Path, help="config, scratch and output folder (wiped first)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--address", default=None, help="existing Ray cluster to use (default: start a local one)")
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    ap.add_argument("--object-store-mb", type=int, default=512, help="object store of the local Ray (default 512)")
    args = ap.parse_args(argv)
    if not args.input.is_file():
        ap.error(f"--input {args.input}: no such file")

    # Only the JSON result goes to stdout: Ray, Data-Juicer (loguru) and any C-level output go to stderr.
    real_stdout = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ["RAY_JOB"] = "1"  # what Data-Juicer's config sets for executor_type=ray; workers inherit it too

    # A SIGTERM (e.g. a caller's timeout) unwinds through run()'s `finally`, which stops the local Ray.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    res = run(args.input.resolve(), args.workdir.resolve(), address=args.address, num_cpus=args.num_cpus,
              object_store_mb=args.object_store_mb)
    text = json.dumps(res, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    real_stdout.write(text + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
