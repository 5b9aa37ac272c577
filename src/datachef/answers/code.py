"""Run a candidate solution against its tests: assemble the test program (HumanEval, MBPP or a generic list of
asserts), and run it in a child Python process with limits.

The runner is small on purpose: a fresh `python -I` in an empty temporary folder (also its HOME and TMPDIR), a
scrubbed environment, CPU-time, address-space and file-size limits (POSIX `resource`), no core dumps, and a
wall-clock timeout; the child leads its own process group, killed whole when the program ends or times out. It
keeps accidents (infinite loops, memory blow-ups, stray files and processes) contained; it is not a security
boundary against hostile code — run untrusted corpora in a container for that.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    import resource
except ImportError:  # not POSIX: no limits beyond the timeout
    resource = None


# ------------------------------------------------------------------------------------------------- test programs

def _preamble(prompt: str, entry: str) -> str:
    """What a HumanEval prompt has before its entry point's signature: imports and helper functions."""
    m = re.search(rf"^def\s+{re.escape(entry)}\s*\(", prompt, re.M)
    return prompt[:m.start()] if m else ""


def code_test_program(code: str, item: dict[str, Any] | None, prompt_field: str = "prompt") -> str | None:
    """The candidate `code` followed by the tests of its benchmark item or source row; None when it has none.

    HumanEval layout (`test`, `entry_point`, and in `prompt_field` the prompt: imports, signature, docstring): a
    completion that defines the entry point itself comes after the prompt's preamble (its imports and helpers stay
    in scope; the unfinished signature is left out), dedented; one that does not is the body continuing the
    prompt. Then the tests, and `check(entry_point)` when the tests define `check`. MBPP layout (`test_list` or
    `tests`: asserts, optional `test_setup_code`): the setup, the code (dedented), the asserts."""
    if not item:
        return None
    test, entry = item.get("test"), item.get("entry_point")
    if isinstance(test, str) and test.strip():
        prompt = item.get(prompt_field)
        prompt = prompt if isinstance(prompt, str) else ""
        if entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
            body = _preamble(prompt, entry) + textwrap.dedent(code)
        elif entry:
            body = prompt + code
        else:
            body = code
        # Only HumanEval-style tests define check(); a plain list of asserts in `test` runs as it is.
        call = f"\ncheck({entry})\n" if entry and "def check(" in test else "\n"
        return f"{body}\n\n{test}{call}"
    tests = item.get("test_list") or item.get("tests")
    if isinstance(tests, str) and tests.strip():
        tests = [tests]
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        # The setup first: it may define what the code needs too (imports, classes), not only the tests.
        setup = item.get("test_setup_code") or ""
        return "\n".join([str(setup), textwrap.dedent(code), *tests, ""])
    return None


# ---------------------------------------------------------------------------------------------------------- runner

@dataclass
class RunResult:
    status: str  # "passed" (exit 0) | "failed" (an uncaught exception, a failed assert) | "timeout" | "error"
    returncode: int | None
    seconds: float
    stdout: str  # the last `max_output_chars` of each
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def as_dict(self) -> dict:
        return asdict(self)


def _limiter(cpu_s: int, memory_mb: int, max_file_mb: int):
    """The child's limits, set between fork and exec (only setrlimit calls: nothing that takes a lock)."""
    mem, size = memory_mb << 20, max_file_mb << 20
    rlimits = [(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)), (resource.RLIMIT_AS, (mem, mem)),
               (resource.RLIMIT_FSIZE, (size, size)), (resource.RLIMIT_CORE, (0, 0))]

    def limit() -> None:  # pragma: no cover - runs in the child
        for which, value in rlimits:
            resource.setrlimit(which, value)

    return limit


def run_python(code: str, *, timeout_s: float = 10.0, memory_mb: int = 1024, max_file_mb: int = 16,
               max_output_chars: int = 4000) -> RunResult:
    """Run `code` as a script in the sandbox described above."""
    start = time.monotonic()
    limited = resource is not None
    with tempfile.TemporaryDirectory(prefix="datachef-sandbox-") as tmp, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        script = Path(tmp) / "main.py"
        script.write_text(code, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "HOME": tmp,
               "TMPDIR": tmp, "LANG": "C.UTF-8"}
        try:
            # Output goes to files, not pipes: a background child holding a pipe open cannot stall the wait.
            proc = subprocess.Popen([sys.executable, "-I", str(script)], cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, start_new_session=True,
                                    preexec_fn=_limiter(max(1, int(timeout_s) + 1), memory_mb, max_file_mb)
                                    if limited else None)
        except OSError as e:
            return RunResult("error", None, round(time.monotonic() - start, 3), "", f"could not start python: {e}")
        try:
            rc = proc.wait(timeout=timeout_s)
            # Killed by RLIMIT_CPU (SIGXCPU, then SIGKILL at the hard limit) is a timeout too.
            status = "passed" if rc == 0 else "timeout" if limited and rc in (-signal.SIGXCPU, -signal.SIGKILL) \
                else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
        _kill_group(proc)  # on a timeout, and any children a finished program left behind
        seconds = round(time.monotonic() - start, 3)
        return RunResult(status, proc.returncode, seconds, _tail(out, max_output_chars), _tail(err, max_output_chars))


def _tail(f, n: int) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")[-n:]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
