"""Replace a small state file atomically: a reader sees the old bytes or the new, never a mix.

The bytes go to a temporary file beside the target (created with the target's mode, so a
secret is never readable by others, not even for a moment), are fsynced, renamed over the
target, and the directory is fsynced so the rename itself survives a power cut. Every state
file the agent writes (status, drain state, credential, signing secrets, TLS key and
certificate, manifest cache, served ledger) goes through here.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomically(
    path: Path, data: bytes | str, *, mode: int = 0o644, parent_mode: int = 0o755
) -> None:
    """Write `data` (str as UTF-8) to `path` through a temporary file and a rename.

    `mode` is the new file's permission bits (before the umask); `parent_mode` applies only to
    directories this creates.
    """
    payload = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(mode=parent_mode, parents=True, exist_ok=True)
    # Unique per process and thread: two writers never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
