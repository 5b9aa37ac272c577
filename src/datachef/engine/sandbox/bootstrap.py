"""Run an untrusted Python script (a recipe an LLM wrote) in a separate, locked-down process.

    result = run_sandboxed(code, run_dir, limits=SandboxLimits(wall_seconds=60), preload=["datachef.kit"])
    result.status        # ok | error | timeout | killed | limit
    result.violations    # what the audit hook blocked (reported even when the script caught the error)
    result.layers        # which isolation layers this run actually got

Layers, outermost first (`probe_isolation()` says what this machine offers):

1. Namespaces, with bubblewrap (`bwrap`) when installed, else util-linux `unshare` (mode "bwrap" / "unshare"):
   - mount namespace: the whole filesystem read-only; empty read-only tmpfs over home folders (`$HOME`, `/root`,
     `/home`), `/tmp`, `/var/tmp`, `/run`, `/dev/shm` and any extra `hidden` folder (datachef's cache); only the Python
     installation (prefixes, `sys.path`) and `readable` paths are bound back, read-only; `masked` files (the benchmark)
     are replaced by /dev/null. The run folder is the only writable place, bound at `/tmp/run`.
   - network namespace: only a private loopback, so no network at all (skipped when `allow_connect` is given).
   - pid, ipc and uts namespaces: the script sees and can signal only its own processes.
   - as root, the script runs under a fresh unprivileged uid (so it has no capabilities and RLIMIT_NPROC applies;
     the kernel exempts root from it); unprivileged, a user namespace plays that part. `no_new_privs` is set, so
     setuid binaries cannot raise privileges.
2. rlimits (always): CPU seconds, address space, processes + threads, file size, open files, no core files.
3. A Python audit hook (always; the only layer left when no namespaces are available, mode "none"), installed by a
   bootstrap before the script runs: it blocks and reports process creation (os.system, subprocess, fork, exec,
   spawn), sockets except to `allow_connect` addresses (connect, bind, sendto, DNS), reads under hidden or masked
   paths and other processes' /proc entries, writes outside the run folder, ctypes access to libc's process and
   socket calls, gc introspection (which could reach the hook's own state) and sub-interpreters. Each block is sent
   to the parent over a pipe, so it is reported even when the script swallows the PermissionError.
4. Process management (always): a new session / process group killed as a whole on the wall-clock timeout; a
   scrubbed environment (no API keys: only what `env` passes); stdin from /dev/null; stdout/stderr to temporary files
   bounded by the file-size limit, of which the tails are kept.

Limits of the design: the audit hook runs in the script's interpreter, so native code could bypass it; it is a
tripwire and the reporting channel, not the boundary. The namespaces (plus the uid drop) are the boundary; they are
not a defence against kernel exploits. Where neither bwrap nor unprivileged user namespaces exist (some CI runners,
macOS), runs fall back to rlimits + audit hook, and `SandboxResult.layers`/`notes` say so.

A script may ask its trusted parent to do things it cannot do itself (read the task's sources, decontaminate against
the held-out benchmark, call the LLM) through the *broker*: a pair of pipes carrying JSON lines. The parent serves
each call with the `broker` handler given to `run_sandboxed`; `BrokerClient` is the script side.

This file must stay importable with the standard library only: the child runs it as its bootstrap script
(`python -I -B bootstrap.py CONFIG`) before anything else is imported.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

Status = Literal["ok", "error", "timeout", "killed", "limit"]
Isolation = Literal["auto", "bwrap", "unshare", "none"]

INNER_RUN_DIR = "/tmp/run"  # where the run folder appears inside the namespaces
BOOTSTRAP = os.path.abspath(__file__)  # the child runs this file by path
BROKER_ENV = "DATACHEF_SANDBOX_BROKER"  # "read_fd,write_fd" of the broker pipes, in the child
# Exit codes of the bootstrap; the parent mainly reads the report pipe, these are the fallback.
EXIT_ERROR, EXIT_LIMIT, EXIT_VIOLATION, EXIT_SETUP = 1, 213, 214, 215
_MAX_REPORTS = 100  # violation messages sent per run
_MAX_LINE = 64 << 20  # longest broker line accepted (one row or a header)

_HIDDEN_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run", "/home", "/root")
_DENY_ALWAYS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
                "/etc/ssh", "/proc/kcore", "/var/lib/docker")
_BLOCKED_IMPORTS = ("_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels", "_xxinterpqueues")
_BLOCKED_SYMBOLS = frozenset({
    "fork", "vfork", "clone", "clone3", "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve",
    "system", "popen", "posix_spawn", "posix_spawnp", "socket", "connect", "bind", "sendto", "sendmsg", "syscall",
    "ptrace", "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "kill", "prctl", "dlopen",
    "getaddrinfo", "gethostbyname",
})


# ---------------------------------------------------------------------------------------------------------------
# Results and limits
# ---------------------------------------------------------------------------------------------------------------
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


class SandboxError(RuntimeError):
    """The sandbox itself could not run (bad arguments, a requested isolation mode that is not available)."""


class BrokerError(RuntimeError):
    """A broker call failed; the message is the parent's error, meant for the script's author."""


# A broker handler gets the call header (whatever the script sent, minus framing) and the input row lists; it returns
# a JSON-able dict merged into the response header, and the output rows.
BrokerHandler = Callable[[dict[str, Any], list[list[dict[str, Any]]]], "tuple[dict[str, Any], list[dict[str, Any]]]"]


# ---------------------------------------------------------------------------------------------------------------
# What this machine offers
# ---------------------------------------------------------------------------------------------------------------
def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _bwrap_base(bwrap: str, *, network: bool) -> list[str]:
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--die-with-parent", "--new-session"]
    if not network:
        args.append("--unshare-net")
    if _is_root():  # keep uid 0 outside a user namespace so the bootstrap can switch to an unprivileged uid
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args.append("--unshare-user")
    return args


def _unshare_base(unshare: str, *, network: bool) -> list[str]:
    args = [unshare]
    if not _is_root():
        args += ["--user", "--map-root-user"]
    args += ["--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc", "--propagation",
             "private"]
    if not network:
        args.append("--net")
    return args


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=15).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=None)
def probe_isolation() -> dict[str, Any]:
    """Which isolation modes work here: {"bwrap": path|None, "unshare": path|None, "root": bool, "modes": [...]}."""
    info: dict[str, Any] = {"platform": sys.platform, "root": _is_root(), "bwrap": None, "unshare": None}
    if sys.platform.startswith("linux"):
        true = shutil.which("true") or "/bin/true"
        bw = shutil.which("bwrap")
        if bw and _works(_bwrap_base(bw, network=False) + [true]):
            info["bwrap"] = bw
        us = shutil.which("unshare")
        if us and _works(_unshare_base(us, network=False) + [true]):
            info["unshare"] = us
    info["modes"] = [m for m in ("bwrap", "unshare") if info[m]] + ["none"]
    return info


_BROKEN_MODES: set[str] = set()  # modes whose in-namespace setup failed here; "auto" skips them afterwards


def mark_broken(mode: str) -> None:
    """Remember that `mode` is offered here but its in-namespace setup failed, so that "auto" skips it from now on."""
    _BROKEN_MODES.add(mode)


def choose_mode(isolation: str) -> str:
    info = probe_isolation()
    if isolation == "auto":
        for m in info["modes"]:
            if m not in _BROKEN_MODES:
                return m
        return "none"
    if isolation not in ("bwrap", "unshare", "none"):
        raise SandboxError(f"unknown isolation {isolation!r} (auto, bwrap, unshare or none)")
    if isolation != "none" and not info[isolation]:
        raise SandboxError(f"isolation {isolation!r} is not available on this machine "
                           f"(available: {', '.join(info['modes'])})")
    return isolation


@functools.lru_cache(maxsize=None)
def _python_paths(python: str, preload: tuple[str, ...]) -> tuple[str, ...]:
    """Paths the child interpreter reads: its prefixes, its (isolated-mode) sys.path, and the preload packages."""
    code = ("import sys, json, importlib.util as u\n"
            "out = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix] + sys.path\n"
            "for m in sys.argv[1:]:\n"
            "    s = u.find_spec(m.split('.')[0])\n"
            "    out += list(s.submodule_search_locations or []) if s else []\n"
            "    out += [s.origin] if s and s.origin else []\n"
            "print(json.dumps(out))")
    try:
        proc = subprocess.run([python, "-I", "-B", "-c", code, *preload], capture_output=True, text=True, timeout=60)
        paths = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        paths = []
    paths += [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(python)), os.path.dirname(python)]
    return tuple(_top_level(p for p in paths if p and os.path.exists(p)))


def _real(p: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(os.fspath(p)))


def _under(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root + "/")


def _top_level(paths) -> list[str]:
    """Real paths, deduplicated, without those inside another one of the list."""
    out: list[str] = []
    for p in sorted({_real(p) for p in paths}, key=len):
        if not any(_under(p, q) for q in out):
            out.append(p)
    return out


def _home_dirs() -> list[str]:
    homes = [os.path.expanduser("~"), os.environ.get("HOME", "")]
    try:
        import pwd

        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):
        pass
    return [h for h in homes if h and h != "/"]


# ---------------------------------------------------------------------------------------------------------------
# What the script sees
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FilesystemView:
    """The script's filesystem, as real top-level paths: what is hidden under empty tmpfs, what is bound back
    read-only (the Python installation, the preload packages, the bootstrap's folder, `readable`), what is masked."""

    hidden: tuple[str, ...]
    expose: tuple[str, ...]
    masked: tuple[str, ...]


def filesystem_view(python: str, preload: tuple[str, ...], readable: Sequence[str | os.PathLike],
                    hidden: Sequence[str | os.PathLike], masked: Sequence[str | os.PathLike]) -> FilesystemView:
    hidden_roots = _top_level([p for p in (*_HIDDEN_ROOTS, *_home_dirs(), *hidden)
                               if os.path.isdir(p) and not os.path.islink(p)])
    expose = _top_level([*_python_paths(python, preload), os.path.dirname(BOOTSTRAP), *readable])
    masked_paths = sorted({_real(m) for m in masked if os.path.exists(m)})
    return FilesystemView(tuple(hidden_roots), tuple(expose), tuple(masked_paths))


def audit_policy(view: FilesystemView, run_dir: Path, inner: str,
                 allow_connect: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """The same view for the audit hook; readable and writable win over hidden."""
    connect: list[list[Any]] = []
    for host, port in allow_connect:
        connect.extend([[ip, int(port)] for ip in _resolve(host)])
    return {
        "hidden": view.hidden,
        "readable": [p for p in view.expose if not _under(p, str(run_dir))],
        "writable": [inner],
        "masked": [*view.masked, *_DENY_ALWAYS],
        "connect": connect,
        "connect_hosts": sorted({h for h, _ in allow_connect}),
    }


def namespace_command(mode: str, view: FilesystemView, run_dir: str, inner: str,
                      network: bool) -> tuple[list[str], dict[str, Any] | None]:
    """The command prefix that enters the namespaces, and in unshare mode the mounts the bootstrap makes itself
    (bwrap makes them from its arguments)."""
    info = probe_isolation()
    if mode == "bwrap":
        return _bwrap_command(info["bwrap"], view, run_dir, inner, network), None
    if mode == "unshare":
        mounts = {"hidden": view.hidden, "expose": [p for p in view.expose if any(_under(p, h) for h in view.hidden)],
                  "masked": view.masked, "run_src": run_dir, "run_dst": inner}
        return _unshare_base(info["unshare"], network=network), mounts
    return [], None


def _bwrap_command(bwrap: str, view: FilesystemView, run_dir: str, inner: str, network: bool) -> list[str]:
    args = _bwrap_base(bwrap, network=network)
    for h in view.hidden:
        if h != "/dev/shm":  # bwrap's --dev makes its own /dev/shm
            args += ["--tmpfs", h]
    made: set[str] = set()
    for p in view.expose:
        h = next((h for h in view.hidden if _under(p, h)), None)
        if h is None:
            continue
        # bwrap would create the folders leading to the mount point as 0700: make them traversable.
        for d in _between(h, p):
            if d not in made:
                made.add(d)
                args += ["--perms", "0755", "--dir", d]
        args += ["--ro-bind", p, p]
    for m in view.masked:
        args += (["--tmpfs", m] if os.path.isdir(m) else ["--ro-bind", "/dev/null", m])
    args += ["--bind", run_dir, inner]
    for h in view.hidden:
        if h != "/dev/shm":
            args += ["--remount-ro", h]
    args += ["--chdir", inner]
    return args


def _between(root: str, path: str) -> list[str]:
    """Folders strictly between `root` and `path`, outermost first: _between('/a', '/a/b/c/d') = ['/a/b', '/a/b/c']."""
    parts = Path(path).relative_to(root).parts[:-1]
    return [str(Path(root, *parts[: i + 1])) for i in range(len(parts))]


def describe_layers(mode: str, root: bool, uid: int | None, network: bool, audit: bool,
                    limits: SandboxLimits) -> tuple[list[str], list[str]]:
    """The isolation layers a run gets, and the caveats (`SandboxResult.layers` and `.notes`)."""
    layers: list[str] = []
    notes: list[str] = []
    if mode != "none":
        layers += [mode, "mount-ns", "pid-ns", "ipc-ns", "uts-ns"]
        layers += ["uid-drop"] if uid is not None else ["user-ns"]
        if not network:
            layers.append("net-ns")
        else:
            notes.append("network allowed (allow_connect): no network namespace; the audit hook limits addresses")
        layers.append("no-new-privs")
    else:
        layers.append("no-new-privs")
        notes.append("no namespaces available: isolation is rlimits + audit hook only")
        if root:
            notes.append("running as root without namespaces: RLIMIT_NPROC is not enforced for root")
    layers.append(f"rlimits(cpu={limits.cpu_seconds}s,as={limits.memory_mb}MB,nproc=+{limits.max_processes},"
                  f"fsize={limits.max_file_mb}MB,nofile={limits.max_open_files})")
    if audit:
        layers.append("audit-hook")
    else:
        notes.append("audit hook disabled")
    layers += ["env-scrub", "wall-timeout"]
    return layers, notes


def _resolve(host: str) -> list[str]:
    import socket

    try:
        return sorted({ai[4][0] for ai in socket.getaddrinfo(host, None)})
    except OSError:
        return [host]


# ---------------------------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------------------------
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
            threads.append(threading.Thread(target=_serve_broker, daemon=True,
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
            if isinstance(msg, dict) and len(out) < 2 * _MAX_REPORTS:
                out.append({k: msg[k] for k in msg if isinstance(k, str)})


class _ProtocolError(Exception):
    pass


def _read_line(f) -> bytes:
    line = f.readline(_MAX_LINE + 1)
    if not line:
        raise EOFError
    if len(line) > _MAX_LINE or not line.endswith(b"\n"):
        raise _ProtocolError("line too long or truncated")
    return line


def _serve_broker(req_fd: int, resp_fd: int, handler: BrokerHandler, problems: list[str]) -> None:
    """Serve the child's broker calls until it closes the pipe. Everything read is untrusted: JSON only, bounded
    lines, rows must be objects; the handler validates the rest."""
    import orjson

    r = os.fdopen(req_fd, "rb")
    w = os.fdopen(resp_fd, "wb")
    with r, w:
        while True:
            try:
                header = orjson.loads(_read_line(r))
                if not isinstance(header, dict):
                    raise _ProtocolError("a call header must be a JSON object")
                counts = header.pop("n_inputs", [])
                if not isinstance(counts, list) or not all(isinstance(n, int) and n >= 0 for n in counts):
                    raise _ProtocolError("n_inputs must be a list of row counts")
                inputs: list[list[dict[str, Any]]] = []
                for n in counts:
                    rows = []
                    for _ in range(n):
                        row = orjson.loads(_read_line(r))
                        if not isinstance(row, dict):
                            raise _ProtocolError("rows must be JSON objects")
                        rows.append(row)
                    inputs.append(rows)
            except EOFError:
                return
            except (_ProtocolError, orjson.JSONDecodeError) as e:
                problems.append(f"protocol error: {e}")
                return  # closing the pipes ends the child's calls with a BrokerError
            try:
                meta, rows = handler(header, inputs)
                resp: dict[str, Any] = {**meta, "ok": True, "n_rows": len(rows)}
            except Exception as e:  # the script's mistake (or a source error): tell it, keep serving
                rows = []
                resp = {"ok": False, "error": str(e) if _is_datachef_error(e) else f"{type(e).__name__}: {e}"}
            try:
                w.write(orjson.dumps(resp, default=str) + b"\n")
                for row in rows:
                    w.write(orjson.dumps(row, default=str) + b"\n")
                w.flush()
            except OSError:
                return


def _is_datachef_error(e: Exception) -> bool:
    return any(c.__name__ == "DatachefError" for c in type(e).__mro__)


# ---------------------------------------------------------------------------------------------------------------
# Child side: the broker client (used by datachef.kit inside the sandbox)
# ---------------------------------------------------------------------------------------------------------------
class BrokerClient:
    """The script's end of the broker pipes: `call(header, inputs) -> (response header, rows)`."""

    def __init__(self, read_fd: int, write_fd: int):
        self._r = os.fdopen(read_fd, "rb")
        self._w = os.fdopen(write_fd, "wb")
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> "BrokerClient | None":
        spec = os.environ.get(BROKER_ENV, "")
        if not spec:
            return None
        try:
            r, w = (int(x) for x in spec.split(","))
            return cls(r, w)
        except (ValueError, OSError):
            return None

    def call(self, header: dict[str, Any], inputs: list[list[dict[str, Any]]]) -> tuple[dict[str, Any],
                                                                                       list[dict[str, Any]]]:
        import orjson

        try:  # serialise everything first: a value that is not JSON must not leave half a call in the pipe
            parts = [orjson.dumps({**header, "n_inputs": [len(rows) for rows in inputs]})]
            parts += [orjson.dumps(row) for rows in inputs for row in rows]
        except TypeError as e:
            raise BrokerError(f"rows and arguments must be JSON values (str, number, bool, None, list, dict with "
                              f"str keys): {e}") from None
        with self._lock:
            try:
                self._w.write(b"\n".join(parts) + b"\n")
                self._w.flush()
                line = self._r.readline()
                if not line:
                    raise BrokerError("the broker closed the channel (an earlier call was malformed?)")
                resp = orjson.loads(line)
                rows = [orjson.loads(self._r.readline()) for _ in range(int(resp.get("n_rows", 0)))]
            except (OSError, ValueError) as e:
                raise BrokerError(f"broker channel failed: {e}") from None
        if not resp.get("ok"):
            raise BrokerError(str(resp.get("error", "the broker call failed")))
        return resp, rows


# ---------------------------------------------------------------------------------------------------------------
# Child side: the bootstrap (runs as `python -I -B bootstrap.py CONFIG`, standard library only)
# ---------------------------------------------------------------------------------------------------------------
class SandboxViolation(PermissionError):
    """Raised inside the sandbox when the audit hook blocks an action."""


def _report(fd: int, kind: str, **fields: Any) -> None:
    try:
        os.write(fd, (json.dumps({"kind": kind, **fields}, default=str)[:60_000] + "\n").encode())
    except OSError:
        pass


def _child_main() -> None:  # pragma: no cover - runs in the sandboxed child (tested end to end)
    cfg = json.loads(sys.argv[1])
    fd = cfg["report_fd"]
    os.set_inheritable(fd, False)
    stage = "isolation"
    try:
        if cfg.get("init"):
            _become_init_parent()  # unshare mode: this process is pid 1 of the new pid namespace
        if cfg.get("mounts"):
            _apply_mounts(cfg["mounts"])
        _no_new_privs()
        if cfg.get("uid") is not None and os.geteuid() == 0:
            os.setgroups([])
            os.setresgid(cfg["uid"], cfg["uid"], cfg["uid"])
            os.setresuid(cfg["uid"], cfg["uid"], cfg["uid"])
        stage = "setup"
        _set_limits(cfg["limits"])
        os.chdir(cfg["run_dir"])
        sys.path[:] = [p for p in sys.path if p not in ("", ".")]
        import importlib

        for m in cfg.get("preload", []):
            importlib.import_module(m)
    except BaseException as e:
        _report(fd, "setup", stage=stage, message=f"{type(e).__name__}: {e}")
        os._exit(EXIT_SETUP)

    script = cfg["script"]
    if cfg.get("audit", True):
        _scrub_modules()
        sys.addaudithook(_make_audit_hook(cfg["policy"], fd, script))
    sys.argv = [script]
    import runpy

    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as e:  # report a structured error, print the traceback, exit with a code that says which
        kind, code, message = _exception_kind(e, cfg["limits"])
        info = _exception_info(e, script)
        if kind == "limit":
            _report(fd, "limit", **{**info, "message": message})
        else:
            _report(fd, "error", **info)
        try:
            import traceback

            traceback.print_exception(e)
        except BaseException:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exception_kind(e: BaseException, limits: dict[str, Any]) -> tuple[str, int, str]:
    if isinstance(e, MemoryError):
        return "limit", EXIT_LIMIT, f"memory limit ({limits['as_mb']} MB address space) reached"
    if isinstance(e, SandboxViolation):
        return "violation", EXIT_VIOLATION, str(e)
    if isinstance(e, OSError):
        if e.errno == errno.EFBIG:
            return "limit", EXIT_LIMIT, f"file size limit ({limits['fsize_mb']} MB) reached"
        if e.errno == errno.EAGAIN and isinstance(e, BlockingIOError):
            return "limit", EXIT_LIMIT, f"process limit ({limits['nproc']} processes/threads) reached"
        if e.errno == errno.EMFILE:
            return "limit", EXIT_LIMIT, f"open files limit ({limits['nofile']}) reached"
    if isinstance(e, RuntimeError) and "can't start new thread" in str(e):
        return "limit", EXIT_LIMIT, f"process limit ({limits['nproc']} processes/threads) reached"
    return "error", EXIT_ERROR, str(e)


def _exception_info(e: BaseException, script: str) -> dict[str, Any]:
    """Type, message, the innermost line of the script in the traceback, and a traceback tail."""
    info: dict[str, Any] = {"type": type(e).__name__, "message": str(e)[:4000]}
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == script:
            info["line"] = tb.tb_lineno
        tb = tb.tb_next
    try:
        import linecache
        import traceback

        if info.get("line"):
            info["code"] = linecache.getline(script, info["line"]).strip()
        info["traceback"] = "".join(traceback.format_exception(e))[-4000:]
    except BaseException:
        pass
    return info


def _become_init_parent() -> None:  # pragma: no cover - child side
    """As pid 1 of a new pid namespace, the kernel ignores default-action signals (SIGXCPU...) for us: fork, let the
    child run the script, and stay behind as init, exiting like bwrap does (code, or 128 + signal)."""
    pid = os.fork()
    if pid == 0:
        return
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            os._exit(EXIT_SETUP)
        if done == pid:
            if os.WIFSIGNALED(status):
                os._exit(128 + os.WTERMSIG(status))
            os._exit(os.WEXITSTATUS(status))


def _libc():  # pragma: no cover - child side
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return ctypes, libc


def _no_new_privs() -> None:  # pragma: no cover - child side
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes, libc = _libc()
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: setuid binaries cannot raise privileges
    except OSError:
        pass


def _apply_mounts(plan: dict[str, Any]) -> None:  # pragma: no cover - child side (unshare mode)
    """Build the filesystem view inside a fresh mount namespace (what bwrap's arguments do in bwrap mode)."""
    ctypes, libc = _libc()
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
    MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
    MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21

    def mount(src, dst, fstype, flags, data=None):
        enc = (lambda s: None if s is None else os.fsencode(s))
        if libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount {dst}: {os.strerror(err)}")

    def remount_ro(target):
        # Keep the flags a user namespace may not drop (nosuid, nodev, noexec, atime), add read-only.
        st = os.statvfs(target)
        keep = 0
        for st_flag, ms_flag in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                                 (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                                 (getattr(os, "ST_RELATIME", 4096), MS_RELATIME)):
            if st.f_flag & st_flag:
                keep |= ms_flag
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | keep)

    # Handles on what must stay reachable, taken before the tmpfs mounts hide it.
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in [*plan["expose"], plan["run_src"]]}
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do propagates to the host
    for mp in _mountpoints():
        if mp == "/proc" or mp.startswith("/proc/") or mp == "/dev" or mp.startswith("/dev/"):
            continue
        try:
            remount_ro(mp)
        except OSError:
            if mp == "/":
                raise
    for h in plan["hidden"]:
        mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=16m")
    for p in sorted(plan["expose"], key=len):
        _mountpoint(p, os.path.isdir(f"/proc/self/fd/{fds[p]}"))
        mount(f"/proc/self/fd/{fds[p]}", p, None, MS_BIND | MS_REC)
        remount_ro(p)
    _mountpoint(plan["run_dst"], True)
    mount(f"/proc/self/fd/{fds[plan['run_src']]}", plan["run_dst"], None, MS_BIND)
    mount(None, plan["run_dst"], None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)  # the bind copied "ro" from /
    for m in plan["masked"]:
        if os.path.isdir(m):
            mount("tmpfs", m, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=4k")
        elif os.path.exists(m):
            mount("/dev/null", m, None, MS_BIND)
    for h in plan["hidden"]:
        mount(None, h, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=16m")
    for f in fds.values():
        os.close(f)


def _mountpoint(path: str, is_dir: bool) -> None:  # pragma: no cover - child side
    if is_dir:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            with open(path, "a"):
                pass


def _mountpoints() -> list[str]:  # pragma: no cover - child side
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            out.append(mp.encode().decode("unicode_escape"))  # \040 for spaces
    return sorted(set(out), key=len)


def _user_task_count() -> int:  # pragma: no cover - child side
    """Processes + threads of this real uid visible here (what RLIMIT_NPROC counts)."""
    uid, n = os.getuid(), 0
    try:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status") as f:
                    status = f.read()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields.get("Uid", "-1 ").split()[0]) == uid:
                n += int(fields.get("Threads", "1").strip() or 1)
    except OSError:
        return 0
    return n


def _set_limits(lim: dict[str, Any]) -> None:  # pragma: no cover - child side
    import resource

    def cap(which, value):
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    cpu = int(lim["cpu"])
    hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)[1]
    hard_cpu = cpu + 2 if hard_cpu == resource.RLIM_INFINITY else min(cpu + 2, hard_cpu)
    resource.setrlimit(resource.RLIMIT_CPU, (min(cpu, hard_cpu), hard_cpu))
    cap(resource.RLIMIT_AS, int(lim["as_mb"]) << 20)
    cap(resource.RLIMIT_FSIZE, int(lim["fsize_mb"]) << 20)
    cap(resource.RLIMIT_NOFILE, int(lim["nofile"]))
    cap(resource.RLIMIT_CORE, 0)
    if hasattr(resource, "RLIMIT_NPROC"):
        cap(resource.RLIMIT_NPROC, _user_task_count() + int(lim["nproc"]))


def _scrub_modules() -> None:  # pragma: no cover - child side
    """Drop the already-imported modules that reach process creation or sub-interpreters without an audit event,
    and every module attribute that refers to them; the hook then blocks importing them again."""
    for name in _BLOCKED_IMPORTS:
        mod = sys.modules.pop(name, None)
        if mod is None:
            continue
        for m in list(sys.modules.values()):
            d = getattr(m, "__dict__", None)
            if not isinstance(d, dict):
                continue
            for k, v in list(d.items()):
                if v is mod:
                    del d[k]


def _make_audit_hook(policy: dict[str, Any], report_fd: int, script: str):  # pragma: no cover - child side
    """The audit hook. Its policy lives in this closure as tuples and frozensets (nothing the script can reach and
    mutate without gc introspection, which the hook blocks)."""
    from ipaddress import ip_address

    real, fsdecode, getcwd, isabs, join = os.path.realpath, os.fsdecode, os.getcwd, os.path.isabs, os.path.join
    getframe = sys._getframe
    hidden = tuple(policy["hidden"])
    readable = tuple(policy["readable"])
    writable = tuple(policy["writable"])
    masked = tuple(policy["masked"])
    connect_ok = frozenset((ip, int(port)) for ip, port in policy["connect"])
    hosts_ok = frozenset(policy["connect_hosts"]) | frozenset(ip for ip, _ in connect_ok)
    own_pid = os.getpid()
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    devices_ok = frozenset({"/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/urandom", "/dev/random"})
    sent = [0]

    def under(p: str, roots: tuple[str, ...]) -> bool:
        for r in roots:
            if r == "/" or p == r or p.startswith(r + "/"):
                return True
        return False

    def norm(p: Any) -> str | None:
        if p is None or isinstance(p, int):
            return None
        try:
            s = fsdecode(p)
        except TypeError:
            return None
        return real(s if isabs(s) else join(getcwd(), s))

    def script_line() -> str:
        try:
            f = getframe(2)
            while f is not None:
                if f.f_code.co_filename == script:
                    return f" (script line {f.f_lineno})"
                f = f.f_back
        except Exception:
            pass
        return ""

    def block(what: str) -> None:
        message = f"{what}{script_line()}"
        if sent[0] < _MAX_REPORTS:
            sent[0] += 1
            _report(report_fd, "violation", message=message)
        raise SandboxViolation(f"[datachef sandbox] blocked: {message}")

    def check_read(raw: Any, what: str = "reading") -> None:
        p = norm(raw)
        if p is None:
            return
        if under(p, masked):
            block(f"{what} {p} (masked)")
        if under(p, writable) or under(p, readable):
            return
        if under(p, hidden):
            block(f"{what} {p} (outside the sandbox)")
        if p.startswith("/proc/"):
            part = p.split("/")[2]
            if part.isdigit() and int(part) != own_pid:
                block(f"{what} {p} (another process)")

    def check_write(raw: Any, what: str = "writing") -> None:
        if isinstance(raw, (str, bytes)) and fsdecode(raw) in devices_ok:
            return
        p = norm(raw)
        if p is None:
            return
        if p in devices_ok or (under(p, writable) and not under(p, masked)):
            return
        block(f"{what} {p} (outside the run folder)")

    def on_open(args):
        path, mode, flags = (list(args) + [None, None, None])[:3]
        wants_write = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and bool(flags & write_flags))
        (check_write if wants_write else check_read)(path)

    def on_socket_new(args):
        family = args[1] if len(args) > 1 else None
        if family not in (2, 10, 1):  # AF_INET, AF_INET6, AF_UNIX
            block(f"creating a socket of family {family}")

    def on_address(event):
        def handler(args):
            addr = args[1] if len(args) > 1 else None
            if addr is None:
                return
            if isinstance(addr, tuple) and len(addr) >= 2 and (str(addr[0]), addr[1]) in connect_ok:
                return
            # Binding to loopback is harmless (libraries probe IPv6 support with bind(("::1", 0))).
            if event == "bind" and isinstance(addr, tuple) and str(addr[0]) in ("127.0.0.1", "::1", "localhost"):
                return
            block(f"{event} to {addr!r} (network access is not allowed)")
        return handler

    def is_ip(host: Any) -> bool:
        try:
            ip_address(host)
            return True
        except ValueError:
            return False

    def on_lookup(event):
        def handler(args):
            host = args[0] if args else None
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if host not in hosts_ok and not (isinstance(host, str) and is_ip(host)):  # a literal needs no DNS
                block(f"{event}({host!r}) (name lookups are not allowed)")
        return handler

    def deny(what):
        def handler(args):
            block(what)
        return handler

    def on_kill(args):
        if args and args[0] not in (own_pid, 0):
            block(f"signalling process {args[0]}")

    def on_import(args):
        if args and args[0] in _BLOCKED_IMPORTS:
            block(f"importing {args[0]}")

    def on_dlsym(args):
        name = args[1] if len(args) > 1 else None
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        if name in _BLOCKED_SYMBOLS:
            block(f"ctypes access to {name}()")

    def paths(read=(), write=()):
        def handler(args):
            args = list(args)
            for i in read:
                if i < len(args):
                    check_read(args[i], "accessing")
            for i in write:
                if i < len(args):
                    check_write(args[i], "modifying")
        return handler

    handlers = {
        "open": on_open,
        "os.listdir": paths(read=(0,)), "os.scandir": paths(read=(0,)), "glob.glob": paths(read=(0,)),
        "glob.glob/2": paths(read=(0, 2)), "os.getxattr": paths(read=(0,)), "os.listxattr": paths(read=(0,)),
        "os.chmod": paths(write=(0,)), "os.chown": paths(write=(0,)), "os.chflags": paths(write=(0,)),
        "os.lchmod": paths(write=(0,)), "os.lchown": paths(write=(0,)), "os.lchflags": paths(write=(0,)),
        "os.mkdir": paths(write=(0,)), "os.remove": paths(write=(0,)), "os.rmdir": paths(write=(0,)),
        "os.rename": paths(write=(0, 1)), "os.link": paths(read=(0,), write=(1,)),
        "os.symlink": paths(write=(1,)), "os.truncate": paths(write=(0,)), "os.utime": paths(write=(0,)),
        "os.setxattr": paths(write=(0,)), "os.removexattr": paths(write=(0,)),
        "shutil.rmtree": paths(write=(0,)), "shutil.copyfile": paths(read=(0,), write=(1,)),
        "shutil.copymode": paths(read=(0,), write=(1,)), "shutil.copystat": paths(read=(0,), write=(1,)),
        "shutil.copytree": paths(read=(0,), write=(1,)), "shutil.move": paths(write=(0, 1)),
        "shutil.chown": paths(write=(0,)), "shutil.unpack_archive": paths(read=(0,), write=(1,)),
        "shutil.make_archive": paths(write=(0,)), "tempfile.mkstemp": paths(write=(0,)),
        "tempfile.mkdtemp": paths(write=(0,)), "sqlite3.connect": paths(write=(0,)),
        "os.system": deny("os.system (running commands is not allowed)"),
        "subprocess.Popen": deny("subprocess (running commands is not allowed)"),
        "os.exec": deny("os.exec* (running programs is not allowed)"),
        "os.posix_spawn": deny("os.posix_spawn (running programs is not allowed)"),
        "os.spawn": deny("os.spawn* (running programs is not allowed)"),
        "os.startfile": deny("os.startfile"),
        "os.fork": deny("os.fork (creating processes is not allowed)"),
        "os.forkpty": deny("os.forkpty (creating processes is not allowed)"),
        "webbrowser.open": deny("webbrowser.open"),
        "os.kill": on_kill, "os.killpg": on_kill,
        "socket.__new__": on_socket_new,
        "socket.connect": on_address("connect"), "socket.connect_ex": on_address("connect"),
        "socket.bind": on_address("bind"), "socket.sendto": on_address("sendto"),
        "socket.sendmsg": on_address("sendmsg"),
        "socket.getaddrinfo": on_lookup("getaddrinfo"), "socket.gethostbyname": on_lookup("gethostbyname"),
        "socket.gethostbyname_ex": on_lookup("gethostbyname_ex"),
        "socket.gethostbyaddr": on_lookup("gethostbyaddr"), "socket.getnameinfo": deny("getnameinfo"),
        "socket.sethostname": deny("sethostname"),
        "import": on_import,
        "ctypes.dlsym": on_dlsym, "ctypes.dlsym/handle": on_dlsym,
        "ctypes.cdata": deny("ctypes raw memory access (from_address)"),
        "gc.get_objects": deny("gc.get_objects"), "gc.get_referrers": deny("gc.get_referrers"),
        "gc.get_referents": deny("gc.get_referents"),
        "cpython.PyInterpreterState_New": deny("creating a sub-interpreter"),
        "cpython._PySys_ClearAuditHooks": deny("clearing audit hooks"),
    }
    get = handlers.get

    def hook(event: str, args: tuple) -> None:
        h = get(event)
        if h is not None:
            h(args)

    return hook


if __name__ == "__main__":  # pragma: no cover - the bootstrap entry point
    _child_main()
