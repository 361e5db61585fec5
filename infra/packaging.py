"""The Lambda archive: control_plane + edgefill_contracts + their locked dependencies, one zip.

Dependencies come from `uv export` of the locked `control-plane` extra and are installed as
manylinux wheels for the target platform (arm64 for Lambda), so a different build machine
produces the same archive. Entries are sorted and carry fixed timestamps and modes, so the zip
is byte-for-byte reproducible. Every service's function runs this archive; the function's
EDGEFILL_SERVICE variable picks the service. Called by the program before any resource is
declared (never at import, never inside an apply).

The unpacked dependencies are cached per platform and requirements under `<cache root>/lambda/`
and published whole under a lock (`edgefill_build.cache`), so concurrent builds (xdist workers,
two stacks) share one install and never see a half-written one. Every path is made absolute
first: a language host may start the program with a relative `__file__`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from edgefill_build.cache import cache_root, published
from edgefill_build.step import run_step
from edgefill_build.tools import ToolNotFoundError
from edgefill_build.tools import find_uv as _find_uv
from infra.errors import PackagingError

logger = logging.getLogger(__name__)

# Lambda's python3.11 arm64 runtime (Amazon Linux 2, glibc 2.26) runs manylinux2014 wheels.
LAMBDA_PLATFORM = "aarch64-manylinux2014"
PYTHON_VERSION = "3.11"
SOURCE_PACKAGES = ("control_plane", "edgefill_contracts")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = frozenset({"__pycache__", "bin"})
_COMMAND_TIMEOUT_SECONDS = 600


def find_uv() -> Path:
    """The uv binary (see `edgefill_build.tools.find_uv`), as a PackagingError if missing."""
    try:
        return _find_uv()
    except ToolNotFoundError as exc:
        raise PackagingError(str(exc)) from exc


def lambda_cache_dir() -> Path:
    """Where unpacked Lambda dependencies are kept between builds: `<cache root>/lambda`."""
    return cache_root() / "lambda"


def _run(command: list[str], *, cwd: Path, what: str) -> str:
    return run_step(
        what,
        command,
        error=PackagingError,
        timeout_s=_COMMAND_TIMEOUT_SECONDS,
        timeout_hint="check that PyPI is reachable",
        cwd=cwd,
        failure_hint="`make bootstrap` to refresh the lock and venv; a wheel missing for the "
        "platform needs a newer pin in pyproject.toml",
    )


def locked_requirements(*, uv: Path, project_root: Path = PROJECT_ROOT) -> str:
    """The control-plane extra's locked, pinned requirements (no dev group, not the project)."""
    return _run(
        [
            str(uv),
            "export",
            "--frozen",
            "--no-dev",
            "--extra",
            "control-plane",
            "--no-emit-project",
            "--no-hashes",
            "--no-header",
            "--no-annotate",
            "--format",
            "requirements-txt",
        ],
        cwd=project_root,
        what="uv export of the locked control-plane dependencies",
    )


def install_dependencies(
    *, requirements: str, python_platform: str, cache_dir: Path, uv: Path, offline: bool = False
) -> Path:
    """Wheels for `python_platform` unpacked in a directory keyed by what was installed."""
    key = hashlib.sha256(f"{python_platform}\n{requirements}".encode()).hexdigest()[:16]
    cache_dir = cache_dir.resolve()

    def install(staging: Path) -> None:
        staging.mkdir()
        requirements_file = staging / "requirements.txt"
        requirements_file.write_text(requirements, encoding="utf-8")
        command = [
            str(uv),
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--python-version",
            PYTHON_VERSION,
            "--python-platform",
            python_platform,
            "--target",
            str(staging / "site"),
            "-r",
            str(requirements_file),
        ]
        if offline:
            command.append("--offline")
        _run(command, cwd=staging, what=f"uv pip install for {python_platform}")

    unpacked = published(cache_dir / f"deps-{python_platform}-{key}", install)
    logger.info("Lambda dependencies for %s are in %s", python_platform, unpacked)
    return unpacked / "site"


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_dir() or _SKIPPED_DIRS.intersection(relative.parts):
            continue
        if path.suffix == ".pyc":
            continue
        yield relative.as_posix(), path


def archive_entries(*, dependencies: Path, project_root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Archive path -> source file: dependencies and our packages (the entry module is
    control_plane.lambda_entry; the lab's seeder, mocks and materializer stay out)."""
    entries = dict(_files(dependencies))
    for package in SOURCE_PACKAGES:
        for name, path in _files(project_root / package):
            entries[f"{package}/{name}"] = path
    return entries


def write_reproducible_zip(entries: dict[str, Path], destination: Path) -> Path:
    """Write `entries` sorted, with fixed times and modes, then move the zip into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per build: two builds into one directory never write one file.
    handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", dir=destination.parent)
    os.close(handle)
    partial = Path(name)
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes(), compresslevel=6)
    os.replace(partial, destination)
    return destination


def build_lambda_archive(
    *,
    out_dir: Path,
    python_platform: str = LAMBDA_PLATFORM,
    project_root: Path = PROJECT_ROOT,
    offline: bool = False,
    cache_dir: Path | None = None,
) -> Path:
    """Build `<out_dir>/control-plane-<platform>.zip` and return its path.

    `cache_dir` keeps the unpacked dependencies (default `lambda_cache_dir()`); `offline`
    installs them from uv's cache only.
    """
    out_dir = out_dir.resolve()
    project_root = project_root.resolve()
    uv = find_uv()
    requirements = locked_requirements(uv=uv, project_root=project_root)
    dependencies = install_dependencies(
        requirements=requirements,
        python_platform=python_platform,
        cache_dir=cache_dir if cache_dir is not None else lambda_cache_dir(),
        uv=uv,
        offline=offline,
    )
    entries = archive_entries(dependencies=dependencies, project_root=project_root)
    archive = write_reproducible_zip(entries, out_dir / f"control-plane-{python_platform}.zip")
    logger.info("built %s (%d entries)", archive, len(entries))
    return archive
