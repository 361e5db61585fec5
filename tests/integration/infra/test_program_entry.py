"""`infra/__main__.py`, the file `pulumi up` runs, under mocks: config, archive, wiring, exports."""

from __future__ import annotations

import runpy
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import pytest

import infra
from control_plane.services import all_services
from infra.mocks import RecordingMocks, run_program
from tests.unit.infra.harness import dev_config


def test_the_program_builds_the_archive_then_declares_and_exports_the_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEFILL_LAMBDA_BUILD_DIR", str(tmp_path))
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))
    main = Path(infra.__file__).parent / "__main__.py"

    def program() -> dict[str, Any]:
        runpy.run_path(str(main), run_name="__main__")
        return exported

    graph = run_program(program, mocks=RecordingMocks(region="eu-west-1"), config=dev_config())
    archive = tmp_path / "lambda" / "control-plane-aarch64-manylinux2014.zip"
    with zipfile.ZipFile(archive) as opened:
        assert "edgefill_lambda.py" in opened.namelist()
    functions = graph.of_type("aws:lambda/function:Function")
    assert {f.inputs["environment"]["variables"]["EDGEFILL_SERVICE"] for f in functions} == {
        s.name for s in all_services()
    }
    assert all(f.inputs["code"].path == str(archive) for f in functions)
    assert graph.exports["api_url"].startswith("https://")
    assert set(graph.exports) >= {"user_pool_id", "origin_bucket", "manifest_bucket", "table_names"}
