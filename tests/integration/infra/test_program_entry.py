"""`infra/__main__.py`, the file `pulumi up` runs, under mocks: config, archive, wiring, exports."""

from __future__ import annotations

import os
import runpy
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import pytest

import infra
from control_plane.services import all_services
from lab.pulumi_mocks import RecordingMocks, run_program
from tests.unit.infra.harness import dev_config

REPO = Path(infra.__file__).resolve().parents[1]


@pytest.mark.parametrize("started_as", ["absolute", "relative"])
def test_the_program_builds_the_archive_then_declares_and_exports_the_stack(
    started_as: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))
    if started_as == "absolute":
        monkeypatch.setenv("EDGEFILL_LAMBDA_BUILD_DIR", str(tmp_path))
        main = REPO / "infra" / "__main__.py"
    else:
        # As a language host may start it: from the repository root, `__file__` relative, and
        # the build directory relative to the root too.
        monkeypatch.chdir(REPO)
        monkeypatch.setenv("EDGEFILL_LAMBDA_BUILD_DIR", os.path.relpath(tmp_path, REPO))
        main = Path("infra/__main__.py")

    def program() -> dict[str, Any]:
        runpy.run_path(str(main), run_name="__main__")
        return exported

    graph = run_program(program, mocks=RecordingMocks(region="eu-west-1"), config=dev_config())
    archive = tmp_path / "lambda" / "control-plane-aarch64-manylinux2014.zip"
    with zipfile.ZipFile(archive) as opened:
        assert "control_plane/lambda_entry.py" in opened.namelist()
    functions = graph.of_type("aws:lambda/function:Function")
    assert {f.inputs["environment"]["variables"]["EDGEFILL_SERVICE"] for f in functions} == {
        s.name for s in all_services()
    }
    assert all(f.inputs["code"].path == str(archive) for f in functions)
    assert graph.exports["api_url"].startswith("https://")
    assert set(graph.exports) >= {"user_pool_id", "origin_bucket", "manifest_bucket", "table_names"}
