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

Modules: `runner` (run_sandboxed and one attempt of a run: command, environment, spawn and wait, classification),
`isolation` (what this machine offers, the mode, what the script may see, the layers), `broker` (both ends of the
broker pipes) and `bootstrap` (the child side: the script the child runs by path, standard library only, holding
the constants both sides share; see its docstring).
"""
from .bootstrap import EXIT_ERROR, EXIT_LIMIT, EXIT_SETUP, EXIT_VIOLATION, SandboxViolation
from .broker import BROKER_ENV, BrokerClient, BrokerError, BrokerHandler
from .isolation import INNER_RUN_DIR, Isolation, SandboxError, probe_isolation
from .runner import SandboxLimits, SandboxResult, Status, run_sandboxed

__all__ = ["BROKER_ENV", "EXIT_ERROR", "EXIT_LIMIT", "EXIT_SETUP", "EXIT_VIOLATION", "INNER_RUN_DIR", "BrokerClient",
           "BrokerError", "BrokerHandler", "Isolation", "SandboxError", "SandboxLimits", "SandboxResult",
           "SandboxViolation", "Status", "probe_isolation", "run_sandboxed"]
