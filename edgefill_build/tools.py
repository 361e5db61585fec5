"""Where the build tools are: the `uv` (and its `pip`) that `scripts/bootstrap.sh` installs.

Hierarchy: ToolNotFoundError is the only exception of this module.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from edgefill_build.cache import cache_root

# The version scripts/bootstrap.sh installs (a test keeps the two equal).
UV_VERSION = "0.13.9"


class ToolNotFoundError(Exception):
    """A build tool is not installed where the build looks for it."""


def bootstrap_tools_bin() -> Path:
    """`<cache root>/tools/uv-<version>/bin`: the venv bootstrap.sh makes for uv (and pip)."""
    return cache_root() / "tools" / f"uv-{UV_VERSION}" / "bin"


def find_uv() -> Path:
    """The uv binary: `$EDGEFILL_UV`, then the bootstrap's copy, then `uv` on PATH."""
    candidates: list[Path] = []
    if os.environ.get("EDGEFILL_UV"):
        candidates.append(Path(os.environ["EDGEFILL_UV"]))
    candidates.append(bootstrap_tools_bin() / "uv")
    on_path = shutil.which("uv")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.resolve()
    raise ToolNotFoundError(
        f"cannot find the uv tool (looked at {', '.join(str(c) for c in candidates)}); "
        "run `make bootstrap` (it installs uv into the cache root's tools/) or set EDGEFILL_UV "
        "to a uv binary"
    )


def bootstrap_pip() -> Path:
    """The pip of the bootstrap's tools venv, which downloads wheels for another platform."""
    pip = bootstrap_tools_bin() / "pip"
    if not (pip.is_file() and os.access(pip, os.X_OK)):
        raise ToolNotFoundError(f"{pip} is missing; run `make bootstrap` to install the tools")
    return pip
