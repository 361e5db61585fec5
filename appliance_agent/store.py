"""The content store on disk: the served tree, partial downloads, quarantine and the index.

<store>/objects/<key>      what nginx serves; only verified, complete files appear here
<store>/.partial/          downloads in progress (same file system, so publishing is a rename)
<store>/quarantine/        objects a scrub found corrupt, kept for inspection
<store>/index.sqlite3      StoreIndex: what objects/ holds, with sizes and hashes
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance_agent.errors import StoreBusy, StoreError
from appliance_agent.store_index import StoreIndex
from edgefill_contracts import DiskUsage, validate_object_key

logger = logging.getLogger(__name__)


class Store:
    """One appliance's store; `open()` creates the layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.partial_dir = root / ".partial"
        self.quarantine_dir = root / "quarantine"
        for directory in (self.objects_dir, self.partial_dir, self.quarantine_dir):
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create store directory {directory}: {exc}; check store_path and "
                    "that the agent's user owns it"
                ) from exc
        self.index = StoreIndex(root / "index.sqlite3")

    def close(self) -> None:
        self.index.close()

    @contextmanager
    def exclusive(self, purpose: str) -> Iterator[None]:
        """Hold the store for one fill or verify; a second one fails at once with StoreBusy."""
        with open(self.root / ".lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                lock.seek(0)
                holder = lock.read().strip() or "another process"
                raise StoreBusy(
                    f"cannot {purpose}: the store {self.root} is in use by {holder}; wait for "
                    "it to finish (see `appliance-agent status`)"
                ) from exc
            try:
                lock.seek(0)
                lock.truncate()
                lock.write(f"pid {os.getpid()} ({purpose})")
                lock.flush()
                yield
            finally:
                lock.seek(0)
                lock.truncate()
                fcntl.flock(lock, fcntl.LOCK_UN)

    def object_path(self, key: str) -> Path:
        """Where `key` is served from; the key is re-validated so no path leaves objects/."""
        return self.objects_dir / validate_object_key(key)

    def partial_path(self, *, key: str, sha256: str) -> Path:
        """The partial file of one object version: a new sha256 never resumes old bytes."""
        key_hash = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self.partial_dir / f"{key_hash}-{sha256[:16]}.part"

    def publish(self, partial: Path, *, key: str, size: int, sha256: str) -> None:
        """Rename a verified, fsynced partial into the served tree, then index it."""
        target = self.object_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, target)
        _fsync_directory(target.parent)
        self.index.put(key=key, size=size, sha256=sha256)

    def evict(self, key: str) -> None:
        """Forget then delete an object (see store_index for why in this order)."""
        self.index.remove(key)
        path = self.object_path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            logger.warning("evicted %s but its file was already gone", key)
        self._prune_empty_parents(path.parent)

    def quarantine(self, key: str) -> Path | None:
        """Move a corrupt object out of the served tree and the index; returns where it went."""
        self.index.remove(key)
        source = self.object_path(key)
        target = self.quarantine_dir / f"{int(time.time())}-{key.replace('/', '__')}"
        try:
            shutil.move(source, target)
        except FileNotFoundError:
            return None
        self._prune_empty_parents(source.parent)
        return target

    def remove_partials_except(self, keep: set[Path]) -> int:
        """Delete partial files no pending download will resume; returns how many."""
        removed = 0
        for path in self.partial_dir.iterdir():
            if path not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def disk_usage(self) -> DiskUsage:
        stats = os.statvfs(self.root)
        total = stats.f_blocks * stats.f_frsize
        free = stats.f_bavail * stats.f_frsize
        return DiskUsage(total_bytes=total, used_bytes=max(0, total - free), free_bytes=free)

    def _prune_empty_parents(self, directory: Path) -> None:
        while directory != self.objects_dir and self.objects_dir in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
