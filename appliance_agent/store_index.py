"""The store's index (sqlite3): every object published under the served tree, verified.

Invariant: every row names a file in `<store>/objects/` whose size and sha256 were checked when
it was published (or re-checked by a scrub). Publishing renames first and inserts second;
evicting deletes the row first and the file second. A crash in between leaves at worst a file
the index does not list, never a row without its file.

A `generation` counter, bumped by triggers on every change to the objects table, lets a fill
record "manifest V is wholly held at generation G" and later skip all per-object work while
the generation is unchanged: a no-op fill costs two small queries, whatever the object count.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from appliance_agent.errors import DiskFull, StoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    sha256 TEXT NOT NULL,
    verified_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('generation', '0');
CREATE TRIGGER IF NOT EXISTS objects_insert AFTER INSERT ON objects BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS objects_delete AFTER DELETE ON objects BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS objects_update AFTER UPDATE OF key, size, sha256 ON objects BEGIN
    UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE name = 'generation';
END;
"""


@contextmanager
def _disk_full_as_store_error(path: Path) -> Iterator[None]:
    """Translate sqlite's errors into the agent's: a full disk is DiskFull, the rest StoreError."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
            raise DiskFull(f"the store index {path} cannot grow: the disk is full") from exc
        raise StoreError(f"the store index {path} failed: {exc}") from exc


class IndexEntry(NamedTuple):
    key: str
    size: int
    sha256: str
    verified_at: float


class StoreIndex:
    """A thread-safe handle on the index database (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def entries(self) -> dict[str, IndexEntry]:
        """Every indexed object by key (one query; no file-system access)."""
        with self._lock:
            rows = self._db.execute("SELECT key, size, sha256, verified_at FROM objects").fetchall()
        return {row[0]: IndexEntry(*row) for row in rows}

    def get(self, key: str) -> IndexEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, size, sha256, verified_at FROM objects WHERE key = ?", (key,)
            ).fetchone()
        return IndexEntry(*row) if row else None

    def put(self, *, key: str, size: int, sha256: str, verified_at: float | None = None) -> None:
        with self._lock, _disk_full_as_store_error(self.path):
            self._db.execute(
                "INSERT OR REPLACE INTO objects (key, size, sha256, verified_at) VALUES (?, ?, ?, ?)",
                (key, size, sha256, time.time() if verified_at is None else verified_at),
            )

    def remove(self, key: str) -> None:
        with self._lock, _disk_full_as_store_error(self.path):
            self._db.execute("DELETE FROM objects WHERE key = ?", (key,))

    def mark_verified(self, key: str, at: float) -> None:
        with self._lock, _disk_full_as_store_error(self.path):
            self._db.execute("UPDATE objects SET verified_at = ? WHERE key = ?", (at, key))

    def generation(self) -> int:
        """Changes whenever an object is added, removed or replaced."""
        with self._lock:
            (value,) = self._db.execute(
                "SELECT value FROM meta WHERE name = 'generation'"
            ).fetchone()
        return int(value)

    def get_meta(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        with self._lock, _disk_full_as_store_error(self.path):
            self._db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value)
            )

    def totals(self) -> tuple[int, int]:
        """(object count, total bytes)."""
        with self._lock:
            count, total = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM objects"
            ).fetchone()
        return int(count), int(total)
