"""The Lambda archive: control_plane + edgefill_contracts + their locked dependencies, one zip.

Dependencies come from `uv export` of the locked `control-plane` extra and are installed as
manylinux wheels for the target platform (arm64 for Lambda), so a different build machine
produces the same archive. Entries are sorted and carry fixed timestamps and modes, so the zip
is byte-for-byte reproducible. Every service's function runs this archive; the function's
EDGEFILL_SERVICE variable picks the service. Called by the program before any resource is
declared (never at import, never inside an apply).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from infra.errors import PackagingError

logger = logging.getLogger(__name__)

# Lambda's python3.11 arm64 runtime (Amazon Linux 2, glibc 2.26) runs manylinux2014 wheels.
LAMBDA_PLATFORM = "aarch64-manylinux2014"
PYTHON_VERSION = "3.11"
ENTRY_MODULE = "edgefill_lambda.py"
SOURCE_PACKAGES = ("control_plane", "edgefill_contracts")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = frozenset({"__pycache__", "bin"})
_COMMAND_TIMEOUT_SECONDS = 600


def find_uv() -> Path:
    """The uv binary: $EDGEFILL_UV, then PATH, then the copy scripts/bootstrap.sh installs."""
    candidates: list[Path] = []
    if os.environ.get("EDGEFILL_UV"):
        candidates.append(Path(os.environ["EDGEFILL_UV"]))
    on_path = shutil.which("uv")
    if on_path:
        candidates.append(Path(on_path))
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgefill" / "tools"
    candidates += sorted(cache.glob("uv-*/bin/uv"), reverse=True)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PackagingError(
        "cannot find the uv tool to export the locked dependencies; run `make bootstrap` "
        "(it installs uv into ~/.cache/edgefill/tools) or set EDGEFILL_UV to a uv binary"
    )


def _run(command: list[str], *, cwd: Path, what: str) -> str:
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PackagingError(f"{what} could not run ({exc}); check uv and the network") from exc
    if done.returncode != 0:
        raise PackagingError(
            f"{what} failed with exit code {done.returncode}:\n{done.stderr.strip()[-2000:]}\n"
            "fix: `make bootstrap` to refresh the lock and venv; a wheel missing for the "
            "platform needs a newer pin in pyproject.toml"
        )
    return done.stdout


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
    target = cache_dir / f"deps-{python_platform}-{key}"
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=cache_dir))
    try:
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
        _run(command, cwd=cache_dir, what=f"uv pip install for {python_platform}")
        os.replace(staging / "site", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("installed Lambda dependencies for %s into %s", python_platform, target)
    return target


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_dir() or _SKIPPED_DIRS.intersection(relative.parts):
            continue
        if path.suffix == ".pyc":
            continue
        yield relative.as_posix(), path


def archive_entries(*, dependencies: Path, project_root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Archive path -> source file: dependencies, our packages, and the entry module."""
    entries = dict(_files(dependencies))
    for package in SOURCE_PACKAGES:
        for name, path in _files(project_root / package):
            entries[f"{package}/{name}"] = path
    entries[ENTRY_MODULE] = project_root / "infra" / "lambda_entry.py"
    return entries


def write_reproducible_zip(entries: dict[str, Path], destination: Path) -> Path:
    """Write `entries` sorted, with fixed times and modes, then move the zip into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
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
) -> Path:
    """Build `<out_dir>/control-plane-<platform>.zip` and return its path."""
    uv = find_uv()
    requirements = locked_requirements(uv=uv, project_root=project_root)
    dependencies = install_dependencies(
        requirements=requirements,
        python_platform=python_platform,
        cache_dir=out_dir / "cache",
        uv=uv,
        offline=offline,
    )
    entries = archive_entries(dependencies=dependencies, project_root=project_root)
    archive = write_reproducible_zip(entries, out_dir / f"control-plane-{python_platform}.zip")
    logger.info("built %s (%d entries)", archive, len(entries))
    return archive
