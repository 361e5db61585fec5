"""The appliance wheelhouse: the agent wheel plus the locked wheels of its base dependencies.

An appliance inside an ISP installs the agent with `pip --no-index` from this directory, which
the appliance_agent role copies over, so it never needs a package index. The agent wheel holds
`appliance_agent` and `edgefill_contracts` only (checked after the build), and the dependency
wheels are the base dependencies only (`uv export --no-dev`, no extras): never FastAPI, boto3 or
Pulumi.

Dependency wheels are downloaded once per lock (keyed by the hash of the exported, hash-pinned
requirements) into `<cache root>/wheelhouse/<hash>/`, published under a lock (see
`edgefill_build.cache`); the agent wheel is built fresh. The wheels are for the controller's
platform and Python (both x86_64 Linux, CPython 3.11 on the Debian 12 appliances this kit
targets). The output directory is replaced whole, never left half-filled.

Usage, from the repository root: ``make wheelhouse`` (``python -m edgefill_build.wheelhouse
--output dist/wheelhouse``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from edgefill_build.cache import cache_root, published
from edgefill_build.step import run_step
from edgefill_build.tools import ToolNotFoundError, bootstrap_pip, find_uv

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
STEP_TIMEOUT_SECONDS = 600
# What the agent wheel may carry at its top level (besides its .dist-info).
AGENT_WHEEL_PACKAGES = frozenset({"appliance_agent", "edgefill_contracts"})


class WheelhouseError(Exception):
    """The wheelhouse could not be built.

    Hierarchy: WheelhouseError is the only exception of this module; the message names the
    step, its output tail and what to check.
    """


def _run(step: str, argv: list[str], *, cwd: Path = REPO) -> str:
    return run_step(
        f"wheelhouse: {step}",
        argv,
        error=WheelhouseError,
        timeout_s=STEP_TIMEOUT_SECONDS,
        timeout_hint="check that PyPI is reachable",
        cwd=cwd,
    )


def _uv() -> Path:
    try:
        return find_uv()
    except ToolNotFoundError as exc:
        raise WheelhouseError(str(exc)) from exc


def export_requirements() -> str:
    """The base dependencies of the agent, pinned with hashes from uv.lock."""
    return _run(
        "uv export",
        [
            str(_uv()),
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
    try:
        pip = bootstrap_pip()
    except ToolNotFoundError as exc:
        raise WheelhouseError(str(exc)) from exc

    def download(staging: Path) -> None:
        with tempfile.TemporaryDirectory(prefix=f"{digest}-") as work:
            requirements_file = Path(work) / "requirements.txt"
            requirements_file.write_text(requirements)
            _run(
                "pip download",
                [
                    str(pip),
                    "download",
                    "--disable-pip-version-check",
                    "--quiet",
                    "--only-binary=:all:",
                    "--no-deps",
                    "--require-hashes",
                    "--dest",
                    str(staging),
                    "--requirement",
                    str(requirements_file),
                ],
            )

    return published(cache_root() / "wheelhouse" / digest, download)


def wheel_packages(wheel: Path) -> set[str]:
    """The top-level names a wheel installs, without its .dist-info and .data directories."""
    with zipfile.ZipFile(wheel) as opened:
        tops = {name.split("/", 1)[0] for name in opened.namelist()}
    return {top for top in tops if not top.endswith((".dist-info", ".data"))}


def build_agent_wheel(out_dir: Path) -> Path:
    """Build the agent wheel (`uv build --wheel`) into `out_dir` and check what it carries."""
    _run("uv build", [str(_uv()), "build", "--wheel", "--quiet", "--out-dir", str(out_dir)])
    wheels = sorted(out_dir.glob("edgefill-*.whl"))
    if len(wheels) != 1:
        raise WheelhouseError(f"wheelhouse: uv build left {len(wheels)} edgefill wheels")
    extra = wheel_packages(wheels[0]) - AGENT_WHEEL_PACKAGES
    if extra:
        raise WheelhouseError(
            f"wheelhouse: the agent wheel {wheels[0].name} also carries {sorted(extra)}; "
            "[tool.hatch.build.targets.wheel] packages in pyproject.toml must list only "
            f"{sorted(AGENT_WHEEL_PACKAGES)}"
        )
    return wheels[0]


def build(output: Path) -> list[Path]:
    """Make `output` hold the agent wheel and its dependency wheels; return the wheels."""
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    dependencies = dependency_wheels(export_requirements())
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for wheel in dependencies.glob("*.whl"):
            shutil.copy2(wheel, staging / wheel.name)
        build_agent_wheel(staging)
        retired = output.with_name(f".{output.name}.old-{os.getpid()}")
        if output.exists():
            os.replace(output, retired)
        os.replace(staging, output)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(output.glob("*.whl"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edgefill_build.wheelhouse",
        description="Build the appliance wheelhouse: the agent wheel and its locked base "
        "dependencies, for the appliance_agent Ansible role.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "dist" / "wheelhouse",
        help="directory to (re)create (default: dist/wheelhouse in the repository)",
    )
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
