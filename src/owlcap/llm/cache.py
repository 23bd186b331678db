"""On-disk cache of successful structured results (sqlite, WAL), safe across threads and processes.

Only answers that parsed and validated are stored, so a failure is never replayed. Keys come from
``Task.cache_key`` (backend, model, prompt version, inputs, schema, sampling options).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from owlcap.errors import ConfigError

logger = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, kind TEXT, value TEXT NOT NULL, created REAL)"


class ResultCache:
    """A key → JSON value store in one sqlite file.

    Each thread gets its own connection (sqlite connections must not be shared across threads); processes
    coordinate through sqlite's file locks, with a busy timeout so a concurrent writer makes others wait, not fail.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute(_SCHEMA)
                conn.execute("DELETE FROM results WHERE key = ''")  # a write: a read-only cache fails here, once
        except (OSError, sqlite3.Error) as exc:
            self.close()
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                f"LLM cache {self.path}: cannot be written ({cause}); point OWLCAP_CACHE_DIR (or llm.cache_path) at a "
                "writable folder, or switch the cache off (llm.cache: false)"
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            # WAL lets readers and one writer work at once; NORMAL sync is durable enough for a cache.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Any | None:
        try:
            row = self._connect().execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            # A broken cache must not stop judging: log it and answer from the model instead.
            logger.warning("cache %s: read failed (%s); continuing without it", self.path, exc)
            return None
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any, *, kind: str = "") -> None:
        text = json.dumps(value, ensure_ascii=False)
        try:
            self._connect().execute(
                "INSERT OR REPLACE INTO results (key, kind, value, created) VALUES (?, ?, ?, ?)",
                (key, kind, text, time.time()),
            )
        except sqlite3.Error as exc:
            logger.warning("cache %s: write failed (%s); the result is not cached", self.path, exc)

    def __len__(self) -> int:
        return self._connect().execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
