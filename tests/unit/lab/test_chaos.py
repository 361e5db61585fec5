"""demo-chaos refuses to run on half a lab, and says what is missing."""

from __future__ import annotations

from typing import cast

import pytest

from lab import appliances, chaos
from lab.bring_up import LabRuntime
from lab.chaos_report import FaultResult
from lab.errors import LabError
from lab.plan import default_plan
from lab.processes import free_port

PLAN = default_plan(titles=1)


def _runtime() -> LabRuntime:
    # Nothing listens on a port the kernel just handed out and took back.
    return LabRuntime(
        control_plane_url=f"http://127.0.0.1:{free_port()}",
        moto_url="http://127.0.0.1:1",
        admin_token="t" * 20,
        env={},
        appliances={},
    )


def test_a_dead_control_plane_and_a_stopped_appliance_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    up = [appliances.container_name(a.appliance_id) for _s, a in PLAN.all_appliances()][1:]
    monkeypatch.setattr(appliances, "container_names", lambda *, running_only=False: up)
    with pytest.raises(LabError) as caught:
        chaos.check_lab_is_up(PLAN, _runtime())
    message = str(caught.value)
    assert "does not answer" in message
    assert "appliances not running: ams1-a" in message
    assert "run `make demo`" in message


def test_a_whole_lab_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    up = [appliances.container_name(a.appliance_id) for _s, a in PLAN.all_appliances()]
    monkeypatch.setattr(appliances, "container_names", lambda *, running_only=False: up)
    monkeypatch.setattr(chaos, "_answers", lambda url: True)
    chaos.check_lab_is_up(PLAN, _runtime())


def test_a_fault_that_cannot_be_staged_fails_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_chaos: chaos.Chaos) -> FaultResult:
        """Break something: for the test."""
        raise TimeoutError("podman exec did not answer")

    def fine(_chaos: chaos.Chaos) -> FaultResult:
        return FaultResult(fault="fine", expected="-", observed=[], ok=True)

    monkeypatch.setattr(chaos, "FAULTS", [broken, fine])
    seen: list[FaultResult] = []
    results = chaos.run_faults(cast(chaos.Chaos, None), on_result=seen.append)
    assert [(r.fault, r.ok) for r in results] == [("Break something", False), ("fine", True)]
    assert "podman exec did not answer" in results[0].observed[0]
    assert seen == results
