"""The agent's wheelhouse: the project wheel plus the locked wheels of its base dependencies.

An appliance inside an ISP installs the agent with `pip --no-index` from this directory, which
the appliance_agent role copies over, so it never needs a package index. The wheelhouse holds
the base dependencies only (`uv export --no-dev`, no extras): never FastAPI, boto3 or Pulumi.

Dependency wheels are downloaded once per lock (keyed by the hash of the exported, hash-pinned
requirements) into `$EDGEFILL_CACHE_DIR/wheelhouse/<hash>/`; the project wheel is built fresh.
The wheels are for the controller's platform and Python (both x86_64 Linux, CPython 3.11 on the
Debian 12 appliances this kit targets).

Usage: ``python -m lab.wheelhouse --output dist/wheelhouse``
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from lab.build_step import cache_root, run_step

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
UV_VERSION = "0.13.9"
STEP_TIMEOUT_SECONDS = 600


class WheelhouseError(Exception):
    """The wheelhouse could not be built.

    Hierarchy: WheelhouseError is the only exception of this module; the message names the
    step, its output tail and what to check.
    """


def _tools_bin() -> Path:
    return cache_root() / "tools" / f"uv-{UV_VERSION}" / "bin"


def _run(step: str, argv: list[str], *, cwd: Path = REPO) -> str:
    return run_step(
        f"wheelhouse: {step}",
        argv,
        error=WheelhouseError,
        timeout_s=STEP_TIMEOUT_SECONDS,
        timeout_hint="check that PyPI is reachable",
        cwd=cwd,
    )


def export_requirements() -> str:
    """The base dependencies of the agent, pinned with hashes from uv.lock."""
    return _run(
        "uv export",
        [
            str(_tools_bin() / "uv"),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--format",
            "requirements-txt",
        ],
    )


def dependency_wheels(requirements: str) -> Path:
    """Directory of the dependency wheels for these requirements, downloading them if needed."""
    digest = hashlib.sha256(requirements.encode()).hexdigest()[:16]
    target = cache_root() / "wheelhouse" / digest
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{digest}-", dir=target.parent) as work:
        requirements_file = Path(work) / "requirements.txt"
        requirements_file.write_text(requirements)
        wheels = Path(work) / "wheels"
        _run(
            "pip download",
            [
                str(_tools_bin() / "pip"),
                "download",
                "--disable-pip-version-check",
                "--quiet",
                "--only-binary=:all:",
                "--no-deps",
                "--require-hashes",
                "--dest",
                str(wheels),
                "--requirement",
                str(requirements_file),
            ],
        )
        os.replace(wheels, target)
    return target


def build(output: Path) -> list[Path]:
    """Fill `output` with the project wheel and its dependency wheels; return the wheels."""
    output.mkdir(parents=True, exist_ok=True)
    for stale in output.glob("*.whl"):
        stale.unlink()
    for wheel in dependency_wheels(export_requirements()).glob("*.whl"):
        shutil.copy2(wheel, output / wheel.name)
    _run(
        "uv build",
        [str(_tools_bin() / "uv"), "build", "--wheel", "--quiet", "--out-dir", str(output)],
    )
    return sorted(output.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.wheelhouse", description=__doc__)
    parser.add_argument("--output", type=Path, default=REPO / "dist" / "wheelhouse")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        wheels = build(args.output)
    except WheelhouseError as exc:
        logger.error("%s", exc)
        return 1
    sys.stdout.write("".join(f"{wheel}\n" for wheel in wheels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
