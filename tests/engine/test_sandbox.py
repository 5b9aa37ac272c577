"""The sandbox contains hostile scripts and reports what they tried, in every isolation mode this machine offers.

Modes: "none" (rlimits + audit hook) always; "bwrap" and "unshare" (namespaces) where available. Each hostile case
sets up something the script could reach if it were not contained (a secret under HOME, a listening socket, a file
path outside the run folder) and checks both that it stayed out of reach and that the result says so.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from datachef.engine.sandbox import BrokerClient, SandboxLimits, probe_isolation, run_sandboxed

MODES = probe_isolation()["modes"]
NS_MODES = [m for m in MODES if m != "none"]
ROOT = probe_isolation()["root"]
FAST = SandboxLimits(wall_seconds=20, cpu_seconds=20, memory_mb=1024, max_processes=16, max_file_mb=8)


def run(code: str, tmp_path: Path, mode: str, **kw):
    kw.setdefault("limits", FAST)
    return run_sandboxed(code, tmp_path / f"run-{mode}-{uuid.uuid4().hex[:6]}", isolation=mode, **kw)


@pytest.fixture
def secret_home(tmp_path, monkeypatch):
    """A HOME with a fake private key; the parent's HOME points at it during the test."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("-----BEGIN FAKE KEY----- s3cr3t-k3y")
    monkeypatch.setenv("HOME", str(home))
    return key


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1; `accepted` records any connection that gets through."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)
    accepted: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            accepted.append(conn.recv(100))
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], accepted
    stop.set()
    t.join(2)
    srv.close()


def _marked_processes(marker: str, grace_s: float = 5.0) -> list[int]:
    """Live processes whose environment carries `marker` (what a sandbox left behind). Polled for up to `grace_s`:
    a killed process group can take a moment to be reaped on a loaded machine, which is not a leak."""
    deadline = time.monotonic() + grace_s
    while True:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if marker.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# -- the good path ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_plain_script_runs_and_reports_its_layers(tmp_path, mode):
    r = run("import os, json\nopen('out.txt', 'w').write('hi')\nprint('cwd', os.getcwd())\n", tmp_path, mode)
    assert r.ok and r.status == "ok" and r.exit_code == 0, r
    assert "cwd" in r.stdout and r.isolation == mode
    assert "audit-hook" in r.layers and any(x.startswith("rlimits") for x in r.layers)
    if mode != "none":
        assert {"mount-ns", "net-ns", "pid-ns"} <= set(r.layers)
        assert ("uid-drop" if ROOT else "user-ns") in r.layers
    written = list(tmp_path.glob(f"run-{mode}-*/out.txt"))
    assert written and written[0].read_text() == "hi"


def test_script_error_reports_type_message_and_line(tmp_path):
    r = run("x = 1\n\ny = {}['missing']\n", tmp_path, MODES[0])
    assert r.status == "error" and not r.violations
    assert r.error["type"] == "KeyError" and r.error["line"] == 3 and r.error["code"] == "y = {}['missing']"
    assert "KeyError" in r.stderr


# -- hostile scripts: contained AND reported -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_reading_a_private_key_under_home_is_blocked(tmp_path, mode, secret_home):
    code = f"print(open({str(secret_home)!r}).read())\n"
    r = run(code, tmp_path, mode)
    assert "s3cr3t" not in r.stdout + r.stderr
    assert r.status == "error" and "id_rsa" in r.violation and "outside the sandbox" in r.violation
    # Swallowing the error does not hide the attempt.
    r = run(f"try:\n    open({str(secret_home)!r}).read()\nexcept Exception:\n    pass\nprint('done')\n",
            tmp_path, mode)
    assert r.status == "ok" and not r.ok and "id_rsa" in r.violation


@pytest.mark.parametrize("mode", MODES)
def test_writing_outside_the_run_folder_is_blocked(tmp_path, mode):
    target = tmp_path / "outside.txt"
    r = run(f"open({str(target)!r}, 'w').write('pwned')\n", tmp_path, mode)
    assert not target.exists()
    assert r.status == "error" and "outside the run folder" in r.violation


@pytest.mark.parametrize("mode", MODES)
def test_connecting_to_a_local_listener_is_blocked(tmp_path, mode, listener):
    port, accepted = listener
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=3)\ns.sendall(b'leak')\n"
    r = run(code, tmp_path, mode)
    assert accepted == []
    assert r.status == "error" and "network access is not allowed" in r.violation


@pytest.mark.parametrize("mode", MODES)
def test_running_commands_is_blocked(tmp_path, mode):
    flag = tmp_path / "pwned"
    for code in (f"import os\nos.system('touch {flag}')\n",
                 f"import subprocess\nsubprocess.run(['touch', '{flag}'])\n",
                 "import _posixsubprocess\n"):
        r = run(code, tmp_path, mode)
        assert r.status == "error" and r.violations, code
    assert not flag.exists()
    assert any("os.system" in v for v in [run(f"import os\nos.system('touch {flag}')\n", tmp_path, mode).violation])


@pytest.mark.parametrize("mode", MODES)
def test_no_unaudited_process_creation_is_left_reachable(tmp_path, mode):
    # subprocess keeps _posixsubprocess.fork_exec as subprocess._fork_exec; calling it raises no audit event, so a
    # script could start any program unseen (it did, before the bootstrap scrubbed functions as well as modules).
    code = ("import subprocess, sys\nfound = [f'{m.__name__}.{k}' for m in list(sys.modules.values())\n"
            "         for k, v in list(getattr(m, '__dict__', {}).items())\n"
            "         if getattr(getattr(v, '__self__', None), '__name__', '') == '_posixsubprocess']\n"
            "print('reachable:', found)\n")
    r = run(code, tmp_path, mode)
    assert r.status == "ok" and "reachable: []" in r.stdout, (r.stdout, r.stderr)


@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_is_stopped_by_the_audit_hook(tmp_path, mode):
    marker = f"DC_TEST_{uuid.uuid4().hex}"
    r = run("import os\nwhile True:\n    os.fork()\n", tmp_path, mode, env={"MARK": marker})
    assert r.status == "error" and "os.fork" in r.violation
    assert _marked_processes(marker) == []


@pytest.mark.skipif(not NS_MODES and ROOT, reason="RLIMIT_NPROC does not apply to root without namespaces")
@pytest.mark.parametrize("mode", NS_MODES or ["none"])
def test_fork_bomb_is_bounded_by_rlimit_nproc_without_the_hook(tmp_path, mode):
    marker = f"DC_TEST_{uuid.uuid4().hex}"
    code = ("import os, time\nn = 0\ntry:\n    for i in range(200):\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        n += 1\nfinally:\n"
            "    print('forked', n, flush=True)\n")
    limits = SandboxLimits(wall_seconds=20, cpu_seconds=20, memory_mb=1024, max_processes=6)
    r = run(code, tmp_path, mode, limits=limits, audit=False, env={"MARK": marker})
    assert r.status == "limit" and "process limit" in r.message
    assert int(r.stdout.split()[-1]) <= 6
    assert _marked_processes(marker) == []  # the sleeping children went down with the sandbox


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_times_out_and_nothing_is_left_running(tmp_path, mode):
    marker = f"DC_TEST_{uuid.uuid4().hex}"
    limits = SandboxLimits(wall_seconds=1.0, cpu_seconds=30)
    r = run("while True:\n    pass\n", tmp_path, mode, limits=limits, env={"MARK": marker})
    assert r.status == "timeout" and r.seconds < 5
    assert _marked_processes(marker) == []


def test_cpu_time_limit(tmp_path):
    r = run("while True:\n    pass\n", tmp_path, MODES[0], limits=SandboxLimits(wall_seconds=20, cpu_seconds=1))
    assert r.status == "limit" and "CPU time limit" in r.message


@pytest.mark.parametrize("mode", MODES)
def test_memory_bomb_hits_the_address_space_limit(tmp_path, mode):
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))\n"
    r = run(code, tmp_path, mode, limits=SandboxLimits(wall_seconds=20, memory_mb=400))
    assert r.status == "limit" and "memory limit (400 MB" in r.message


def test_file_size_limit_and_bounded_output(tmp_path):
    r = run("open('big', 'wb').write(b'x' * (3 << 20))\n", tmp_path, MODES[0],
            limits=SandboxLimits(wall_seconds=20, max_file_mb=1))
    assert r.status == "limit" and "file size limit (1 MB)" in r.message
    r = run("print('y' * 200000)\n", tmp_path, MODES[0], limits=SandboxLimits(wall_seconds=20, max_output_chars=500))
    assert r.status == "ok" and 0 < len(r.stdout) <= 500


@pytest.mark.parametrize("mode", MODES)
def test_environment_is_scrubbed_and_parent_environ_unreadable(tmp_path, mode, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    code = (f"import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))\n"
            f"print(open('/proc/{os.getpid()}/environ', 'rb').read())\n")
    r = run(code, tmp_path, mode, env={"EXPLICIT": "yes"})
    assert "sk-test-secret" not in r.stdout + r.stderr
    assert "'EXPLICIT'" in r.stdout and "OPENAI_API_KEY'" not in r.stdout.splitlines()[0]
    if mode == "none":  # the parent is visible without a pid namespace: the hook must stop the read
        assert r.status == "error" and "another process" in r.violation
    else:  # a private /proc: the parent does not exist in there
        assert r.status == "error"


# -- each namespace mode holds on its own (audit hook off) -----------------------------------------------------------
@pytest.mark.parametrize("mode", NS_MODES)
def test_namespaces_alone_hide_home_make_fs_read_only_and_cut_the_network(tmp_path, mode, secret_home, listener):
    port, accepted = listener
    outside = tmp_path / "outside.txt"
    code = f"""
import socket
def attempt(f):
    try:
        f()
        return 'OK'
    except Exception as e:
        return type(e).__name__
print('read', attempt(lambda: open({str(secret_home)!r}).read()))
print('write', attempt(lambda: open({str(outside)!r}, 'w').write('x')))
print('write_work', attempt(lambda: open('/etc/datachef-pwned', 'w').write('x')))
print('connect', attempt(lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2)))
print('own', attempt(lambda: open('mine.txt', 'w').write('x')))
"""
    r = run(code, tmp_path, mode, audit=False)
    assert r.status == "ok", r
    out = dict(line.split() for line in r.stdout.strip().splitlines())
    assert out["read"] == "FileNotFoundError"
    assert out["write"] in ("FileNotFoundError", "OSError", "PermissionError")
    assert out["write_work"] in ("OSError", "PermissionError")
    assert out["connect"] in ("ConnectionRefusedError", "OSError", "TimeoutError")
    assert out["own"] == "OK"
    assert accepted == [] and not outside.exists() and not Path("/etc/datachef-pwned").exists()


# -- network only where allowed ---------------------------------------------------------------------------------------
def test_allow_connect_opens_only_the_given_address(tmp_path, listener):
    port, accepted = listener
    code = (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=3)\ns.sendall(b'hello')\n"
            f"s.close()\nsocket.create_connection(('127.0.0.1', {port + 1 if port < 65535 else port - 1}))\n")
    r = run(code, tmp_path, MODES[0], allow_connect=[("127.0.0.1", port)])
    assert r.status == "error" and "network access is not allowed" in r.violation
    for _ in range(20):
        if accepted:
            break
        threading.Event().wait(0.1)
    assert accepted == [b"hello"]
    assert "net-ns" not in r.layers


# -- the broker --------------------------------------------------------------------------------------------------------
def test_broker_serves_calls_and_reports_malformed_ones(tmp_path):
    calls = []

    def handler(header, inputs):
        calls.append((header, inputs))
        if header.get("fail"):
            raise ValueError("nope")
        return {"echo": header["x"]}, [{"n": len(inputs[0])}, {"n": 2}]

    code = ("from datachef.engine.sandbox import BrokerClient, BrokerError\nb = BrokerClient.from_env()\n"
            "meta, rows = b.call({'x': 7}, [[{'a': 1}, {'a': 2}, {'a': 3}]])\nprint(meta['echo'], rows)\n"
            "try:\n    b.call({'fail': True}, [])\nexcept BrokerError as e:\n    print('error', e)\n")
    r = run(code, tmp_path, MODES[0], broker=handler, preload=["datachef.engine.sandbox"])
    assert r.ok, r
    assert "7 [{'n': 3}, {'n': 2}]" in r.stdout and "error ValueError: nope" in r.stdout
    assert calls[0] == ({"x": 7}, [[{"a": 1}, {"a": 2}, {"a": 3}]])

    garbage = "import os\nw = int(os.environ['DATACHEF_SANDBOX_BROKER'].split(',')[1])\nos.write(w, b'[1, 2]\\n')\n"
    r = run(garbage, tmp_path, MODES[0], broker=handler)
    assert any("protocol error" in v for v in r.violations)
    assert BrokerClient.from_env() is None  # no broker outside a sandbox


def test_the_kit_imports_the_sandbox_package_after_the_audit_hook(tmp_path):
    """datachef.kit imports engine.sandbox lazily, once the hook is on: nothing in that import chain may trip it."""
    r = run("from datachef.engine.sandbox import BrokerClient\nprint(BrokerClient.from_env())\n", tmp_path, MODES[0],
            preload=["datachef.kit"])
    assert r.ok and r.stdout.strip() == "None", r


@pytest.mark.parametrize("mode", MODES)
def test_masked_file_stays_unreadable_inside_a_readable_folder(tmp_path, mode):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text('{"q": "public"}\n')
    (data / "bench.jsonl").write_text('{"q": "held-out answer 42"}\n')
    code = (f"print(open({str(data / 'train.jsonl')!r}).read())\n"
            f"print(open({str(data / 'bench.jsonl')!r}).read())\n")
    r = run(code, tmp_path, mode, readable=[data], masked=[data / "bench.jsonl"])
    assert "public" in r.stdout and "held-out" not in r.stdout + r.stderr
    assert r.status == "error" and "bench.jsonl (masked)" in r.violation
