"""`python -m control_plane.recommendations` runs the nightly batch against the named stack."""

from __future__ import annotations

import json

import pytest

from control_plane.common.settings import ServiceSettings
from control_plane.recommendations.cli import main


def test_cli_runs_the_batch_and_prints_its_summary(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for field in ("aws_endpoint_url", "name_prefix", "environment"):
        monkeypatch.setenv(f"EDGEFILL_{field.upper()}", str(getattr(stack, field)))
    assert main() == 0
    assert json.loads(capsys.readouterr().out) == {"profiles": 0, "regions": 0, "titles": 0}


def test_cli_reports_an_unreachable_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGEFILL_ENVIRONMENT", "development")
    monkeypatch.setenv("EDGEFILL_AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert main() == 1
    assert "recommendations batch failed" in capsys.readouterr().err
