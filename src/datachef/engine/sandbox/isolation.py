"""What isolation this machine offers, and what a sandboxed script may see.

`probe_isolation` finds out which namespace tool works here (bwrap, unshare, or none); `choose_mode` picks the mode
for a run and remembers the modes whose in-namespace setup failed (`mark_broken`). `filesystem_view` decides what is
hidden, bound back read-only and masked; `audit_policy` is the same view for the audit hook; `namespace_command` is
the namespace tool's command line (and in unshare mode the mounts the bootstrap makes); `describe_layers` says which
layers a run got.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from . import bootstrap

if TYPE_CHECKING:
    from .runner import SandboxLimits

Isolation = Literal["auto", "bwrap", "unshare", "none"]

INNER_RUN_DIR = "/tmp/run"  # where the run folder appears inside the namespaces
BOOTSTRAP = os.path.abspath(bootstrap.__file__)  # the child runs this file by path: its folder is exposed

# Hidden under empty tmpfs in every run, with the home folders and `hidden`; what the audit hook masks in every run.
_HIDDEN_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run", "/home", "/root")
_DENY_ALWAYS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
                "/etc/ssh", "/proc/kcore", "/var/lib/docker")


class SandboxError(RuntimeError):
    """The sandbox itself could not run (bad arguments, a requested isolation mode that is not available)."""


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
    """The mode of a run: for "auto" the best one offered here and not marked broken, else the one asked for."""
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
    """The script's filesystem, as real paths: the folders hidden under empty tmpfs, those bound back read-only (the
    Python installation, the preload packages, the bootstrap's folder, `readable`), and what is masked."""

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
