"""The broker: a script asks its trusted parent to do what it cannot do itself (read the task's sources,
decontaminate against the held-out benchmark, call the LLM) over a pair of pipes carrying JSON lines.

A call is a header line (the script's fields plus `n_inputs`, the row count of each input) followed by the input
rows, one per line; the answer is a header line (the handler's fields plus `ok` and `n_rows`, or `ok` false and
`error`) followed by the output rows. The parent serves calls with
`serve_broker` and the `broker` handler given to `run_sandboxed`; `BrokerClient` is the script's end, used by
`datachef.kit` inside the sandbox.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

BROKER_ENV = "DATACHEF_SANDBOX_BROKER"  # "read_fd,write_fd" of the broker pipes, in the child
_MAX_LINE = 64 << 20  # longest broker line accepted (one row or a header)


class BrokerError(RuntimeError):
    """A broker call failed; the message is the parent's error, meant for the script's author."""


# A broker handler gets the call header (whatever the script sent, minus framing) and the input row lists; it returns
# a JSON-able dict merged into the response header, and the output rows.
BrokerHandler = Callable[[dict[str, Any], list[list[dict[str, Any]]]], "tuple[dict[str, Any], list[dict[str, Any]]]"]


# ---------------------------------------------------------------------------------------------------------------
# Parent side: serving the calls
# ---------------------------------------------------------------------------------------------------------------
class _ProtocolError(Exception):
    pass


def _read_line(f) -> bytes:
    line = f.readline(_MAX_LINE + 1)
    if not line:
        raise EOFError
    if len(line) > _MAX_LINE or not line.endswith(b"\n"):
        raise _ProtocolError("line too long or truncated")
    return line


def serve_broker(req_fd: int, resp_fd: int, handler: BrokerHandler, problems: list[str]) -> None:
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
