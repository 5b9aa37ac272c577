"""The child side of the sandbox: the script the parent starts as `python -I -B -u bootstrap.py CONFIG`, inside the
namespaces when there are any, before anything else is imported.

It builds the rest of the isolation from the inside: in unshare mode it stays behind as init of the new pid namespace
and makes the mounts (bwrap makes them from its arguments); it sets no_new_privs, drops to the run's fresh uid (as
root), sets the rlimits, imports the `preload` modules (trusted code), installs the audit hook and runs the script.
Blocked actions, limits hit and the script's uncaught exception go to the parent as JSON lines on the report pipe.
CONFIG is one JSON object: script, run_dir, report_fd, preload, audit, uid, init, policy (the audit hook's), limits
and mounts (unshare mode), as `runner._command` writes it.

This file must stay importable with the standard library only and must not import its sibling modules: run as a
script it is no part of the package (and `-I` keeps its folder off `sys.path`). So the constants that both sides of
the protocol need (the exit codes, the report cap) are defined here, once, and the parent's modules import them from
here. The broker's constants live in `broker`: its child end, `BrokerClient`, runs as ordinary (preloaded) package
code.
"""
from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

# Exit codes of the bootstrap; the parent mainly reads the report pipe, these are the fallback.
EXIT_ERROR, EXIT_LIMIT, EXIT_VIOLATION, EXIT_SETUP = 1, 213, 214, 215
MAX_REPORTS = 100  # violation messages sent per run

_BLOCKED_IMPORTS = ("_posixsubprocess", "_xxsubinterpreters", "_xxinterpchannels", "_xxinterpqueues")
_BLOCKED_SYMBOLS = frozenset({
    "fork", "vfork", "clone", "clone3", "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve",
    "system", "popen", "posix_spawn", "posix_spawnp", "socket", "connect", "bind", "sendto", "sendmsg", "syscall",
    "ptrace", "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "kill", "prctl", "dlopen",
    "getaddrinfo", "gethostbyname",
})


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

        # subprocess is imported before the audit hook, as when this file was also the parent's module: importing
        # the package later (datachef.kit does, lazily) or a library that imports subprocess must not trip the hook's
        # block on importing _posixsubprocess, which `_scrub_modules` drops.
        for m in ("subprocess", *cfg.get("preload", [])):
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
    and every module attribute that refers to them or to one of their functions (subprocess keeps
    `_posixsubprocess.fork_exec` as `subprocess._fork_exec`); the hook then blocks importing them again."""
    for name in _BLOCKED_IMPORTS:
        mod = sys.modules.pop(name, None)
        if mod is None:
            continue
        for m in list(sys.modules.values()):
            d = getattr(m, "__dict__", None)
            if not isinstance(d, dict):
                continue
            for k, v in list(d.items()):
                if v is mod or getattr(v, "__self__", None) is mod:
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
        if sent[0] < MAX_REPORTS:
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
