"""Run a script in the sandbox: `run_sandboxed`, its limits and result, and one attempt of a run.

An attempt follows one frozen `RunPlan`: the child's command and environment are built from it (`_command`,
`_child_env`), the child runs while the parent reads its reports and serves its broker calls (`_spawn_and_wait`),
and what happened is classified from the reports first, the exit status second (`_result`, `_classify`). When a
namespace mode fails to set up under "auto", the run is tried again in the next mode.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from .bootstrap import EXIT_VIOLATION, MAX_REPORTS
from .broker import BROKER_ENV, BrokerHandler, serve_broker
from .isolation import (BOOTSTRAP, INNER_RUN_DIR, Isolation, audit_policy, choose_mode, describe_layers,
                        filesystem_view, mark_broken, namespace_command, probe_isolation)

Status = Literal["ok", "error", "timeout", "killed", "limit"]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    wall_seconds: float = 600.0  # wall clock; the whole process group is killed after it
    cpu_seconds: int = 300  # RLIMIT_CPU (SIGXCPU at the limit, SIGKILL 2 s later)
    memory_mb: int = 4096  # RLIMIT_AS: address space, so allocations beyond it raise MemoryError
    max_processes: int = 64  # RLIMIT_NPROC on top of what the uid already runs; threads count too
    max_file_mb: int = 1024  # RLIMIT_FSIZE: largest file the script may write (stdout/stderr included)
    max_open_files: int = 256  # RLIMIT_NOFILE
    max_output_chars: int = 20_000  # tail of stdout / stderr kept in the result


@dataclass
class SandboxResult:
    status: Status
    exit_code: int | None  # the script's exit status; negative = killed by that signal
    stdout: str  # tails, at most limits.max_output_chars each
    stderr: str
    seconds: float
    isolation: str  # "bwrap" | "unshare" | "none"
    layers: list[str] = field(default_factory=list)  # e.g. ["mount-ns", "net-ns", "uid-drop", "rlimits", ...]
    notes: list[str] = field(default_factory=list)  # caveats, e.g. "RLIMIT_NPROC is not enforced for root"
    violations: list[str] = field(default_factory=list)  # what the audit hook blocked, in order
    message: str = ""  # one line: what happened
    error: dict[str, Any] | None = None  # uncaught exception: type, message, line (in the script), code, traceback

    @property
    def ok(self) -> bool:
        """The script exited 0 and tried nothing the sandbox blocked."""
        return self.status == "ok" and not self.violations

    @property
    def violation(self) -> str | None:
        return self.violations[0] if self.violations else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_sandboxed(code: str, run_dir: str | os.PathLike, *, script_name: str = "script.py",
                  limits: SandboxLimits | None = None, env: Mapping[str, str] | None = None,
                  preload: Sequence[str] = (), readable: Sequence[str | os.PathLike] = (),
                  hidden: Sequence[str | os.PathLike] = (), masked: Sequence[str | os.PathLike] = (),
                  allow_connect: Sequence[tuple[str, int]] = (), broker: BrokerHandler | None = None,
                  isolation: Isolation = "auto", audit: bool = True, python: str | None = None) -> SandboxResult:
    """Write `code` to `run_dir/script_name` and run it in a sandbox; return what happened (never raises for what
    the script does).

    Args:
        run_dir: the script's private folder (created if needed), its working directory, HOME and TMPDIR, and the
            only place it may write. Inside namespaces it appears at `/tmp/run`; `{run_dir}` in `env` values is
            replaced by the path the script sees.
        env: extra environment variables (the rest of the parent's environment is not passed: no API keys).
        preload: modules imported by the bootstrap before the audit hook is installed (trusted code, e.g.
            "datachef.kit"); their files are readable inside the sandbox.
        readable: extra paths the script may read (bound read-only when they lie in hidden folders).
        hidden: extra folders hidden like home folders (e.g. datachef's cache).
        masked: files or folders the script must not read even where they are otherwise visible (the benchmark).
        allow_connect: (host, port) pairs the script may connect to; giving any keeps the host network (no network
            namespace), with the audit hook allowing only these addresses.
        broker: handler of the script's broker calls (see `BrokerClient`); None = no broker.
        isolation: "auto" (best available), "bwrap", "unshare" or "none" (rlimits + audit hook only).
        audit: install the audit hook (turn off only to test the other layers on their own).
        python: interpreter to run (default: this one).
    """
    limits = limits or SandboxLimits()
    run = Path(run_dir).resolve()
    run.mkdir(parents=True, exist_ok=True)
    script = run / script_name
    script.write_text(code, encoding="utf-8")
    plan = RunPlan(mode=choose_mode(isolation), script=script, run_dir=run, limits=limits, env=dict(env or {}),
                   preload=tuple(preload), readable=tuple(readable), hidden=tuple(hidden), masked=tuple(masked),
                   allow_connect=tuple(allow_connect), broker=broker, audit=audit, python=python or sys.executable)
    return _run(plan, fall_back=isolation == "auto")


@dataclass(frozen=True)
class RunPlan:
    """One run of a script, as `run_sandboxed` was asked for it, with the isolation mode chosen."""

    mode: str  # "bwrap" | "unshare" | "none"
    script: Path  # inside run_dir
    run_dir: Path  # resolved
    limits: SandboxLimits
    env: Mapping[str, str]
    preload: tuple[str, ...]
    readable: tuple[str | os.PathLike, ...]
    hidden: tuple[str | os.PathLike, ...]
    masked: tuple[str | os.PathLike, ...]
    allow_connect: tuple[tuple[str, int], ...]
    broker: BrokerHandler | None
    audit: bool
    python: str

    @property
    def inner_run_dir(self) -> str:
        """The run folder as the script sees it."""
        return INNER_RUN_DIR if self.mode != "none" else str(self.run_dir)

    @property
    def network(self) -> bool:
        return bool(self.allow_connect)


def _run(plan: RunPlan, *, fall_back: bool) -> SandboxResult:
    """Attempt the plan; with `fall_back` ("auto"), a mode whose setup fails is tried no more and the next one is."""
    result = _attempt(plan)
    if fall_back and plan.mode != "none" and result.error and result.error.get("stage") == "isolation":
        # The namespace tools exist but setting up mounts failed here: remember, and use the next mode.
        mark_broken(plan.mode)
        failed = result.error.get("message", "")
        result = _run(replace(plan, mode=choose_mode("auto")), fall_back=True)
        result.notes.append(f"isolation {plan.mode!r} failed to set up ({failed}); fell back to {result.isolation!r}")
    return result


def _attempt(plan: RunPlan) -> SandboxResult:
    """Run the plan once in its mode: build the child's command and environment, run it, classify the outcome."""
    root = probe_isolation()["root"]
    (plan.run_dir / "tmp").mkdir(exist_ok=True)
    uid = _give_run_dir_to_fresh_uid(plan.run_dir) if plan.mode != "none" and root else None
    layers, notes = describe_layers(plan.mode, root, uid, plan.network, plan.audit, plan.limits)
    pipes = _Pipes()
    cmd = _command(plan, uid, pipes.report_w)
    env = _child_env(plan, pipes)
    try:
        outcome = _spawn_and_wait(plan, cmd, env, pipes)
    except _StartFailed as e:
        return SandboxResult("error", None, "", str(e), 0.0, plan.mode, layers, notes, message=str(e))
    finally:
        if uid is not None:
            _chown_tree(plan.run_dir, os.getuid(), os.getgid())
    return _result(plan, outcome, layers, notes)


def _give_run_dir_to_fresh_uid(run_dir: Path) -> int:
    """As root, the script runs under a fresh unprivileged uid (fresh per run: its process count is this run's
    alone), which owns the run folder for the run."""
    uid = 2_000_000 + secrets.randbelow(1_000_000)
    _chown_tree(run_dir, uid, uid)
    os.chmod(run_dir, 0o700)
    return uid


class _Pipes:
    """The child's channels: reports (child -> parent), broker requests (child -> parent) and responses (parent ->
    child)."""

    def __init__(self) -> None:
        self.report_r, self.report_w = os.pipe()
        self.request_r, self.request_w = os.pipe()
        self.response_r, self.response_w = os.pipe()

    @property
    def child_ends(self) -> tuple[int, int, int]:
        return self.report_w, self.request_w, self.response_r

    def close_all(self) -> None:
        for fd in (self.report_r, self.report_w, self.request_r, self.request_w, self.response_r, self.response_w):
            os.close(fd)


def _command(plan: RunPlan, uid: int | None, report_fd: int) -> list[str]:
    """The namespace tool's prefix, then the bootstrap with its configuration as one JSON argument."""
    inner = plan.inner_run_dir
    view = filesystem_view(plan.python, plan.preload, plan.readable, plan.hidden, plan.masked)
    prefix, mounts = namespace_command(plan.mode, view, str(plan.run_dir), inner, plan.network)
    limits = plan.limits
    cfg = {
        "script": f"{inner}/{plan.script.name}", "run_dir": inner, "report_fd": report_fd,
        "preload": list(plan.preload), "audit": plan.audit, "uid": uid, "init": plan.mode == "unshare",
        "policy": audit_policy(view, plan.run_dir, inner, plan.allow_connect),
        "limits": {"cpu": limits.cpu_seconds, "as_mb": limits.memory_mb, "nproc": limits.max_processes,
                   "fsize_mb": limits.max_file_mb, "nofile": limits.max_open_files},
        "mounts": mounts,
    }
    return [*prefix, plan.python, "-I", "-B", "-u", BOOTSTRAP, json.dumps(cfg)]


def _child_env(plan: RunPlan, pipes: _Pipes) -> dict[str, str]:
    """A fresh environment: none of the parent's variables (no API keys), one thread per numeric library, offline
    Hugging Face libraries, HOME and the caches in the run folder; then the broker's pipes and `env`."""
    inner = plan.inner_run_dir
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": inner, "TMPDIR": f"{inner}/tmp",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMEXPR_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "XDG_CACHE_HOME": f"{inner}/tmp"}
    if plan.broker is not None:
        env[BROKER_ENV] = f"{pipes.response_r},{pipes.request_w}"
    env.update({k: str(v).replace("{run_dir}", inner) for k, v in plan.env.items()})
    return env


class _StartFailed(Exception):
    """The child process could not be started; the message says why."""


@dataclass
class _Outcome:
    """What the parent saw of one child process."""

    rc: int  # as Popen reports it (the namespace tool's code when wrapped)
    timed_out: bool
    seconds: float
    cpu_used: float  # approximate when several sandboxes run at once
    stdout: str  # tails
    stderr: str
    reports: list[dict[str, Any]]  # from the report pipe
    broker_problems: list[str]


def _spawn_and_wait(plan: RunPlan, cmd: list[str], env: dict[str, str], pipes: _Pipes) -> _Outcome:
    """Run the child in a session of its own, stdin from /dev/null and stdout/stderr to temporary files; read its
    reports and serve its broker calls meanwhile; kill the whole process group at the wall-clock limit."""
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    reports: list[dict[str, Any]] = []
    broker_problems: list[str] = []
    t0 = time.monotonic()
    cpu0 = _children_cpu()
    try:
        try:
            proc = subprocess.Popen(cmd, cwd=str(plan.run_dir), env=env, stdin=subprocess.DEVNULL, stdout=out_f,
                                    stderr=err_f, pass_fds=pipes.child_ends, start_new_session=True, close_fds=True)
        except OSError as e:
            pipes.close_all()
            raise _StartFailed(f"could not start the sandbox: {e}") from None
        for fd in pipes.child_ends:
            os.close(fd)
        threads = [threading.Thread(target=_read_reports, args=(pipes.report_r, reports), daemon=True)]
        if plan.broker is not None:
            threads.append(threading.Thread(target=serve_broker, daemon=True,
                                            args=(pipes.request_r, pipes.response_w, plan.broker, broker_problems)))
        else:
            os.close(pipes.request_r)
            os.close(pipes.response_w)
        for t in threads:
            t.start()
        # A blocking wait in a thread: Popen.wait(timeout) polls with sleeps, adding up to 50 ms per run.
        waiter = threading.Thread(target=proc.wait, daemon=True)
        waiter.start()
        waiter.join(timeout=plan.limits.wall_seconds)
        timed_out = waiter.is_alive()
        if timed_out:
            _kill_group(proc)
        rc = proc.wait()
        if plan.mode == "none":  # strays left in the group; in namespaces everything died with the pid namespace
            _kill_group(proc)
        for t in threads:
            t.join(timeout=5)
        seconds = round(time.monotonic() - t0, 3)
        return _Outcome(rc, timed_out, seconds, _children_cpu() - cpu0, _tail(out_f, plan.limits.max_output_chars),
                        _tail(err_f, plan.limits.max_output_chars), reports, broker_problems)
    finally:
        out_f.close()
        err_f.close()


def _result(plan: RunPlan, outcome: _Outcome, layers: list[str], notes: list[str]) -> SandboxResult:
    violations = [r["message"] for r in outcome.reports if r.get("kind") == "violation"]
    violations += [f"broker: {p}" for p in outcome.broker_problems]
    limit_hit = next((r for r in outcome.reports if r.get("kind") == "limit"), None)
    error = next((r for r in outcome.reports if r.get("kind") in ("error", "setup")), None)
    exit_code, sig = _decode_exit(outcome.rc, wrapped=plan.mode != "none")
    status, message = _classify(outcome.timed_out, exit_code, sig, outcome.cpu_used, limit_hit, error, violations,
                                plan.limits)
    return SandboxResult(status, exit_code, outcome.stdout, outcome.stderr, outcome.seconds, plan.mode, layers, notes,
                         violations, message, error)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            try:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
            except FileNotFoundError:
                pass


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(f, n_chars: int) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 4 * n_chars))
    text = f.read().decode("utf-8", errors="replace")
    return text[-n_chars:]


def _decode_exit(rc: int, *, wrapped: bool) -> tuple[int, int | None]:
    """(exit code, signal). bwrap and the unshare-mode init report a signal death as 128 + signal."""
    if rc < 0:
        return rc, -rc
    if wrapped and rc > 128 and rc - 128 in (signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSEGV,
                                              signal.SIGABRT, signal.SIGBUS, signal.SIGTERM, signal.SIGILL):
        return -(rc - 128), rc - 128
    return rc, None


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _classify(timed_out: bool, exit_code: int, sig: int | None, cpu_used: float, limit_hit: dict | None,
              error: dict | None, violations: list[str], limits: SandboxLimits) -> tuple[Status, str]:
    if timed_out:
        return "timeout", f"timed out after {limits.wall_seconds:g} s (wall clock); the process group was killed"
    if limit_hit is not None:
        return "limit", str(limit_hit.get("message", "a resource limit was reached"))
    # SIGXCPU at the soft CPU limit; SIGKILL at the hard one (soft + 2 s) if the script ignored SIGXCPU.
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_used >= limits.cpu_seconds):
        return "limit", f"CPU time limit ({limits.cpu_seconds} s) reached"
    if sig == signal.SIGXFSZ:
        return "limit", f"file size limit ({limits.max_file_mb} MB) reached"
    if sig is not None:
        return "killed", f"killed by signal {signal.Signals(sig).name}"
    if error is not None and error.get("kind") == "setup":
        return "error", f"sandbox setup failed: {error.get('message')}"
    if exit_code == 0:
        return "ok", "ok" if not violations else f"exited 0, but the sandbox blocked: {violations[0]}"
    if violations and (exit_code == EXIT_VIOLATION or error is None or "SandboxViolation" in str(error.get("type"))):
        return "error", f"blocked: {violations[0]}"
    if error is not None:
        where = f" (line {error['line']}: {error.get('code', '').strip()})" if error.get("line") else ""
        return "error", f"{error.get('type')}: {error.get('message')}{where}"
    return "error", f"exited with code {exit_code}"


def _read_reports(fd: int, out: list[dict[str, Any]]) -> None:
    with os.fdopen(fd, "rb") as f:
        while True:
            line = f.readline(1 << 20)
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict) and len(out) < 2 * MAX_REPORTS:
                out.append({k: msg[k] for k in msg if isinstance(k, str)})
