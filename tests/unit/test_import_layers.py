"""The import contracts in pyproject.toml ([tool.importlinter], STYLE "Layers") hold, and bite."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

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
