"""The import contracts in pyproject.toml ([tool.importlinter], STYLE "Layers") hold, and bite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
TIMEOUT_S = 120


def run_lint_imports(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    # --no-cache: no .import_linter_cache left in the tree.
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_repository_keeps_its_import_contracts() -> None:
    code, output = run_lint_imports("pyproject.toml", cwd=REPO)
    assert code == 0, output
    assert "0 broken" in output, output


def test_ignored_imports_are_single_edges_never_wildcards() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    ignored = [edge for c in config["contracts"] for edge in c.get("ignore_imports", [])]
    assert all("*" not in edge for edge in ignored), ignored


def test_the_control_plane_layers_have_no_ignored_cycle_edges() -> None:
    # The known cycles were removed (shared concepts moved to common, catalog or the
    # contracts); a new cycle is fixed the same way, not ignored.
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c.get("id") == "control-plane-layers"]
    assert layers.get("ignore_imports", []) == []


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_forbidden_import_breaks_the_check(tmp_path: Path) -> None:
    # A throwaway tree, nothing copied into the repo: the contracts package imports the agent.
    write(tmp_path / "pkg_agent" / "__init__.py", "")
    write(tmp_path / "pkg_agent" / "daemon.py", "VALUE = 1\n")
    write(tmp_path / "pkg_contracts" / "__init__.py", "")
    write(tmp_path / "pkg_contracts" / "models.py", "from pkg_agent.daemon import VALUE\n")
    write(
        tmp_path / "layers.toml",
        """\
[tool.importlinter]
root_packages = ["pkg_contracts", "pkg_agent"]

[[tool.importlinter.contracts]]
name = "pkg_contracts imports nothing of ours"
type = "forbidden"
source_modules = ["pkg_contracts"]
forbidden_modules = ["pkg_agent"]
""",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    code, output = run_lint_imports("layers.toml", cwd=tmp_path, env=env)

    assert code != 0, output
    assert "pkg_contracts imports nothing of ours BROKEN" in output, output
    assert "pkg_contracts.models -> pkg_agent.daemon" in output, output


def _toml_value(value: object) -> str:
    # The contract tables hold only strings, booleans and lists of strings; json's string
    # escaping is valid TOML for these (no TOML writer is among the dependencies).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def contract_config(*ids: str) -> str:
    """The repository's contracts named by `ids`, as an import-linter config of their own."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = [
        "[tool.importlinter]",
        'root_packages = ["control_plane", "edgefill_contracts"]',
    ]
    for contract in config["contracts"]:
        if contract["id"] in ids:
            lines.append("[[tool.importlinter.contracts]]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("contract_id", "offender", "statement"),
    [
        # signing sits below every domain.
        (
            "lower-packages-below-domains",
            "control_plane/signing/offender.py",
            "from control_plane.steering.rank import rank_appliances\n",
        ),
        # common too.
        (
            "lower-packages-below-domains",
            "control_plane/common/offender.py",
            "from control_plane.fleet.store import FleetStore\n",
        ),
        # playback asks the entitlement reader, never builds billing with its provider.
        (
            "billing-context-only-in-billing",
            "control_plane/playback/offender.py",
            "from control_plane.billing.service import billing_from_settings\n",
        ),
        # manifests (builder and store) sit below fleet and placement, which both use them.
        (
            "control-plane-layers",
            "control_plane/manifests/offender.py",
            "from control_plane.placement.rendezvous import place_cluster\n",
        ),
        (
            "control-plane-layers",
            "control_plane/manifests/offender.py",
            "from control_plane.fleet.registry import record_manifest_version\n",
        ),
        # steering reads fleet.reads, never the fleet context (it holds the fleet CA).
        (
            "fleet-context-only-in-fleet",
            "control_plane/steering/offender.py",
            "from control_plane.fleet.context import FleetContext\n",
        ),
        (
            "fleet-context-only-in-fleet",
            "control_plane/placement/offender.py",
            "from control_plane.fleet import context\n",
        ),
    ],
)
def test_the_seam_contracts_bite(
    tmp_path: Path, contract_id: str, offender: str, statement: str
) -> None:
    # A copy of the real packages with one offending module; the repository is untouched.
    for package in ("control_plane", "edgefill_contracts"):
        shutil.copytree(
            REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    write(tmp_path / "layers.toml", contract_config(contract_id))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    code, before = run_lint_imports("layers.toml", cwd=tmp_path, env=env)
    assert code == 0 and "KEPT" in before, before

    write(tmp_path / offender, statement)
    code, output = run_lint_imports("layers.toml", cwd=tmp_path, env=env)

    assert code != 0, output
    assert "BROKEN" in output, output
    offending_module = offender.removesuffix(".py").replace("/", ".")
    assert f"{offending_module} -> " in output, output
