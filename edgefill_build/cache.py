"""The build cache: one root for every artifact, each published whole under a lock, built once.

A cached artifact (a directory of wheels, a rootfs tarball, unpacked Lambda dependencies) is
built at a staging path beside its final name and moved there by one `os.replace`, while a
`filelock` lock on `<name>.lock` is held. Two processes that want the same artifact at once (two
xdist workers, the lab and a test) take turns: the first builds and publishes, the second finds
the published artifact under the lock and uses it. A build that fails or is killed leaves only
its staging path, which the next build removes; a reader never sees a half-written artifact,
also after a power cut (the data is synced before the rename).

Hierarchy: this module raises nothing of its own; the builder's exception passes through.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 1800.0


def cache_root() -> Path:
    """`$EDGEFILL_CACHE_DIR`, else `$XDG_CACHE_HOME/edgefill`, else `~/.cache/edgefill`.

    Always absolute: a relative variable is taken from the current directory once, here.
    """
    base = os.environ.get("EDGEFILL_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgefill"
    )
    return Path(base).resolve()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def published(
    target: Path,
    build: Callable[[Path], object],
    *,
    timeout_s: float = LOCK_TIMEOUT_SECONDS,
) -> Path:
    """Return `target`, first building it with `build(staging)` if it is not published yet.

    `build` must create `staging` (a file or a directory); it is renamed to `target` only when
    `build` returns. The lock is `<target>.lock`; `timeout_s` bounds the wait for another
    builder (filelock raises `Timeout` past it).
    """
    target = target.resolve()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f"{target.name}.staging")
    with FileLock(str(target.with_name(f"{target.name}.lock")), timeout=timeout_s):
        if target.exists():
            logger.info("using %s, built meanwhile by another process", target)
            return target
        _remove(staging)  # left by a build that failed or was killed
        try:
            build(staging)
            if not staging.exists():
                raise FileNotFoundError(f"the build of {target} did not create {staging}")
            # The artifact's bytes reach the disk before its name does: after a power cut the
            # name is either absent or names a whole artifact. One sync for a tree of files.
            os.sync()
            os.replace(staging, target)
        finally:
            if staging.exists():
                _remove(staging)
    return target
