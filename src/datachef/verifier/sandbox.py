"""Run untrusted code (a candidate solution plus its tests) in a child Python process with limits.

Small on purpose: a fresh `python -I` in an empty temporary folder, a scrubbed environment, CPU-time, address-space,
file-size and process-count limits (POSIX `resource`), and a wall-clock timeout that kills the whole process group.
It keeps accidents (infinite loops, memory blow-ups, stray files) contained; it is not a security boundary against
hostile code — run untrusted corpora in a container for that.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class SandboxResult:
    status: str  # "passed" | "failed" | "timeout" | "error"
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def as_dict(self) -> dict:
        return asdict(self)


def _limits(cpu_s: int, memory_mb: int, max_file_mb: int) -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    mem = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    size = max_file_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    if hasattr(resource, "RLIMIT_CORE"):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.setsid()  # own process group, so a timeout kills any children too


def run_python(code: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, max_file_mb: int = 16,
               max_output_chars: int = 4000) -> SandboxResult:
    """Run `code` as a script. Exit status 0 = passed; an uncaught exception (a failed assert) = failed."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="datachef-sandbox-") as tmp:
        script = Path(tmp) / "main.py"
        script.write_text(code, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "HOME": tmp,
               "LANG": "C.UTF-8"}
        use_limits = os.name == "posix"
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", str(script)], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                preexec_fn=(lambda: _limits(max(1, int(timeout_s) + 1), memory_mb, max_file_mb))
                if use_limits else None)
        except OSError as e:
            return SandboxResult("error", None, time.monotonic() - start, "", f"could not start python: {e}")
        try:
            out, err = proc.communicate(timeout=timeout_s)
            status = "passed" if proc.returncode == 0 else "failed"
            # Killed by RLIMIT_CPU (SIGXCPU/SIGKILL) is a timeout too.
            if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) if use_limits else False:
                status = "timeout"
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            status = "timeout"
        return SandboxResult(status, proc.returncode, round(time.monotonic() - start, 3),
                             out[-max_output_chars:], err[-max_output_chars:])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
