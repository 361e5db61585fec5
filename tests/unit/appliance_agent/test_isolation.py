"""The agent installs and runs with only its own dependencies: no FastAPI, boto3 or Pulumi."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgefill_build.tools import find_uv

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = (
    "fastapi",
    "boto3",
    "botocore",
    "pulumi",
    "pulumi_aws",
    "control_plane",
    "moto",
    "mangum",
)


def test_importing_the_agent_pulls_in_no_control_plane_modules() -> None:
    code = (
        "import json, sys, pkgutil, importlib, appliance_agent, edgefill_contracts\n"
        "for m in pkgutil.walk_packages(appliance_agent.__path__, 'appliance_agent.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(json.dumps(sorted(n for n in {FORBIDDEN!r} if n in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    assert json.loads(out.stdout) == []


@pytest.mark.timeout(600)
def test_agent_runs_in_a_venv_with_only_its_own_dependencies(tmp_path: Path) -> None:
    uv = str(find_uv())
    venv = tmp_path / "agent-venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    # The base install (no extras) is exactly what an appliance gets.
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(ROOT)],
        check=True,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    )
    python = str(venv / "bin" / "python")
    missing = subprocess.run(
        [
            python,
            "-c",
            f"import importlib.util as u; print([m for m in {FORBIDDEN!r} if u.find_spec(m)])",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout, whose packages are importable from its root
    )
    assert missing.stdout.strip() == "[]"
    version = subprocess.run(
        [str(venv / "bin" / "appliance-agent"), "--version"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert version.stdout.startswith("appliance-agent ")
