"""Disk cache of LLM requests, keyed by a hash of (kind, backend, model, messages, params, extra).

SQLite (stdlib) so that several threads and processes can share one cache file safely; a re-run of the same requests
costs no tokens."""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..hashing import content_hash


def request_key(**parts: Any) -> str:
    return content_hash(parts)


class RequestCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Any | None:
        row = self._conn().execute("SELECT value FROM requests WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        with self._conn() as c:
            c.execute("INSERT OR REPLACE INTO requests (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM requests").fetchone()[0]
