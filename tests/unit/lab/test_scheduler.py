"""The lab's scheduler: it runs declared jobs only, again after a failed run."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.services import all_services
from lab import scheduler
from lab.control_plane import CONTINUOUS_JOBS, run_job
from lab.errors import LabError


def test_every_continuous_job_is_declared_by_a_service() -> None:
    declared = {job.name for service in all_services() for job in service.jobs}
    assert set(CONTINUOUS_JOBS) <= declared


def test_an_unknown_job_is_refused_by_name() -> None:
    with pytest.raises(LabError, match=r"no scheduled job named 'nope'; known: .*steering"):
        run_job("nope", settings=None)  # type: ignore[arg-type]


def test_without_a_job_the_scheduler_says_how_to_call_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert scheduler.main([]) == 2
    assert "usage: python -m lab.scheduler" in capsys.readouterr().err


def test_a_failed_run_is_retried_after_a_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[str] = []
    pauses: list[float] = []

    def job(name: str, settings: Any) -> dict[str, Any]:
        runs.append(name)
        if len(runs) == 1:
            raise RuntimeError("moto is restarting")
        if len(runs) == 3:
            raise KeyboardInterrupt  # ends the loop for the test
        return {}

    monkeypatch.setenv("EDGEFILL_ENVIRONMENT", "development")
    monkeypatch.setattr(scheduler, "run_job", job)
    monkeypatch.setattr("lab.scheduler.time.sleep", pauses.append)
    with pytest.raises(KeyboardInterrupt):
        scheduler.main(["steering-snapshot"])
    assert runs == ["steering-snapshot"] * 3
    assert pauses == [scheduler.FAILED_RUN_PAUSE_S]
