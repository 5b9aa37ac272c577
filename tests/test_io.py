"""Atomic writes: all or nothing, with the permissions an ordinary file would get."""
from __future__ import annotations

import os
import stat

import pytest

from datachef.io import atomic_open, write_json_atomic


def test_atomic_write_gets_the_usual_mode_and_a_failure_leaves_the_old_file(tmp_path):
    old = os.umask(0o027)
    try:
        target = tmp_path / "out.json"
        write_json_atomic(target, {"a": 1})
        assert stat.S_IMODE(target.stat().st_mode) == 0o640  # 0666 less the umask, not mkstemp's 0600
        with pytest.raises(RuntimeError):
            with atomic_open(target) as f:
                f.write("half")
                raise RuntimeError("killed mid-write")
        assert target.read_text() == '{\n  "a": 1\n}\n'
        assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind
    finally:
        os.umask(old)
