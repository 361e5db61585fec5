"""Drain: Serving → Draining → Drained by connection count or timeout; undrain; persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance_agent.serve.drain import DrainController
from appliance_agent.serve.errors import DrainStateError
from appliance_agent.serve.settings import DrainSettings
from edgefill_contracts import ApplianceState

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Connections:
    def __init__(self, value: int) -> None:
        self.value = value
        self.error: OSError | None = None

    def __call__(self) -> int:
        if self.error is not None:
            raise self.error
        return self.value


def _controller(tmp_path: Path, active: Connections) -> DrainController:
    settings = DrainSettings(
        state_file=tmp_path / "drain.json", active_connections_threshold=1, timeout_s=60
    )
    return DrainController(settings, active_connections=active)


def test_starts_serving(tmp_path: Path) -> None:
    assert _controller(tmp_path, Connections(5)).current().state is ApplianceState.SERVING


def test_drained_when_connections_fall_to_the_threshold(tmp_path: Path) -> None:
    active = Connections(40)
    drain = _controller(tmp_path, active)
    assert (
        drain.request(ApplianceState.DRAINING, now=T0, reason="test").state
        is ApplianceState.DRAINING
    )
    assert drain.advance(now=T0 + timedelta(seconds=5)).state is ApplianceState.DRAINING
    active.value = 1
    record = drain.advance(now=T0 + timedelta(seconds=6))
    assert record.state is ApplianceState.DRAINED
    assert "1 active connections" in record.reason


def test_drained_when_the_timeout_passes(tmp_path: Path) -> None:
    active = Connections(40)
    drain = _controller(tmp_path, active)
    drain.request(ApplianceState.DRAINING, now=T0, reason="test")
    assert drain.advance(now=T0 + timedelta(seconds=59)).state is ApplianceState.DRAINING
    record = drain.advance(now=T0 + timedelta(seconds=60))
    assert (record.state, record.reason) == (ApplianceState.DRAINED, "drain timeout of 60 s passed")


def test_unreadable_connection_count_falls_back_to_the_timeout(tmp_path: Path) -> None:
    active = Connections(0)
    active.error = ConnectionRefusedError(111, "refused")
    drain = _controller(tmp_path, active)
    drain.request(ApplianceState.DRAINING, now=T0, reason="test")
    assert drain.advance(now=T0 + timedelta(seconds=1)).state is ApplianceState.DRAINING
    assert drain.advance(now=T0 + timedelta(seconds=61)).state is ApplianceState.DRAINED


def test_repeated_drain_orders_keep_the_first_start_time(tmp_path: Path) -> None:
    drain = _controller(tmp_path, Connections(40))
    drain.request(ApplianceState.DRAINING, now=T0, reason="first")
    again = drain.request(ApplianceState.DRAINING, now=T0 + timedelta(seconds=30), reason="again")
    assert (again.since, again.reason) == (T0, "first")


def test_undrain_from_drained_and_state_survives_a_restart(tmp_path: Path) -> None:
    drain = _controller(tmp_path, Connections(0))
    drain.request(ApplianceState.DRAINING, now=T0, reason="test")
    drain.advance(now=T0)
    restarted = _controller(tmp_path, Connections(0))
    assert restarted.current().state is ApplianceState.DRAINED
    assert (
        restarted.request(ApplianceState.SERVING, now=T0, reason="undrain").state
        is ApplianceState.SERVING
    )
    assert _controller(tmp_path, Connections(0)).current().state is ApplianceState.SERVING


def test_drain_until_done_waits_with_the_given_sleep(tmp_path: Path) -> None:
    active = Connections(10)
    drain = _controller(tmp_path, active)
    clock = [T0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += timedelta(seconds=seconds)
        active.value -= 3

    record = drain.drain_until_done(reason="cli", clock=lambda: clock[0], sleep=sleep, poll_s=1.0)
    assert record.state is ApplianceState.DRAINED
    assert sleeps == [1.0, 1.0, 1.0]


def test_corrupt_state_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "drain.json").write_text("{not json")
    with pytest.raises(DrainStateError, match="delete it"):
        _controller(tmp_path, Connections(0)).current()


def test_a_drain_keeps_the_control_plane_state_it_began_on(tmp_path: Path) -> None:
    active = Connections(40)
    drain = _controller(tmp_path, active)
    ordered = T0 - timedelta(minutes=3)  # the control plane's clock
    drain.note_control_plane_change(ordered)
    assert drain.request(ApplianceState.DRAINING, now=T0, reason="order").basis == ordered
    undrained = T0 + timedelta(seconds=10)
    drain.note_control_plane_change(undrained)  # heard of an undrain: the drain's basis stays
    assert (drain.current().basis, drain.current().known_change) == (ordered, undrained)
    active.value = 0
    assert drain.advance(now=T0 + timedelta(seconds=11)).basis == ordered
    serving = drain.request(ApplianceState.SERVING, now=T0 + timedelta(seconds=12), reason="u")
    assert serving.basis == undrained  # a new state begins on the newest state known
