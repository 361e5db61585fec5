"""Health damping: K of N bad to go unhealthy, M good in a row to recover, worst component wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from control_plane.fleet.health import (
    HealthPolicy,
    HealthRecord,
    HealthStatus,
    observe_heartbeat,
    observe_silence,
    worst,
)
from edgefill_contracts.heartbeat import (
    ApplianceState,
    DiskUsage,
    FillProgress,
    Heartbeat,
    HeldDigest,
    ServingCounters,
)
from edgefill_contracts.holdings import encode_held_units

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = HealthPolicy(interval_seconds=10, window=5, unhealthy_after=3, healthy_after=2)


def beat(
    at: datetime,
    *,
    errors: list[str] | None = None,
    used: int = 10,
    fill: str = "ok",
    held: HeldDigest | None = None,
) -> Heartbeat:
    return Heartbeat(
        appliance_id="a1",
        agent_version="1",
        sent_at=at,
        state=ApplianceState.SERVING,
        disk=DiskUsage(total_bytes=100, used_bytes=used, free_bytes=100 - used),
        held=held or HeldDigest(),
        serving=ServingCounters(),
        fill=FillProgress(last_result=fill),
        errors=errors or [],
    )


def run(pattern: str, record: HealthRecord | None = None) -> list[HealthRecord]:
    """'g' good heartbeat, 'b' failing heartbeat, '.' an interval with no heartbeat."""
    record = record or HealthRecord(appliance_id="a1")
    history = []
    at = T0
    for step in pattern:
        at += POLICY.interval
        if step == ".":
            record = observe_silence(record, now=at, policy=POLICY)
        else:
            record = observe_heartbeat(
                record,
                heartbeat=beat(at, errors=["nginx down"] if step == "b" else None),
                now=at,
                policy=POLICY,
            )
        history.append(record)
    return history


def test_new_appliance_is_unknown_then_healthy_after_m_good() -> None:
    assert HealthRecord(appliance_id="a1").status is HealthStatus.UNKNOWN
    history = run("gg")
    assert [r.healthy for r in history] == [False, True]
    assert history[-1].status is HealthStatus.OK


def test_one_lost_heartbeat_never_moves_traffic() -> None:
    history = run("gg.ggg.ggg.gg")
    assert all(r.healthy for r in history[1:])
    assert sum(not o.good for o in history[-1].outcomes) == 1


def test_k_of_n_missed_makes_unhealthy_with_the_reason() -> None:
    # A silent interval is counted once half an interval more has passed: at 70 s, the
    # heartbeats due at 40, 50 and 60 s are missed.
    history = run("ggg....")
    assert [r.healthy for r in history] == [False, True, True, True, True, True, False]
    assert "3 of the last 5 intervals bad" in history[-1].reason
    assert "no heartbeat for" in history[-1].reason
    assert history[-1].status is HealthStatus.ERROR


def test_failing_heartbeats_count_as_bad_and_the_reason_says_what_failed() -> None:
    history = run("ggbgbgb")
    assert [r.healthy for r in history] == [False, True, True, True, True, True, False]
    assert "nginx down" in history[-1].reason


def test_recovery_needs_m_good_in_a_row_so_it_does_not_flap() -> None:
    down = run("gg.....")[-1]
    assert not down.healthy
    history = run("gbgg", record=down.model_copy(update={"counted_until": T0}))
    assert [r.healthy for r in history] == [False, False, False, True]
    assert history[-1].reason == "2 good intervals in a row"


def test_a_long_silence_is_counted_lazily_and_caps_at_the_window() -> None:
    up = run("gg")[-1]
    later = observe_silence(up, now=T0 + timedelta(hours=5), policy=POLICY)
    assert not later.healthy
    assert len(later.outcomes) == POLICY.window
    assert "no heartbeat for" in later.reason


def test_heartbeats_arriving_late_by_less_than_half_an_interval_are_not_missed() -> None:
    record = HealthRecord(appliance_id="a1")
    at = T0
    for _ in range(8):
        at += POLICY.interval * 1.4
        record = observe_heartbeat(record, heartbeat=beat(at), now=at, policy=POLICY)
    assert record.healthy
    assert all(o.good for o in record.outcomes)


@pytest.mark.parametrize(
    ("kwargs", "component", "status"),
    [
        ({"used": 91}, "disk", HealthStatus.WARNING),
        ({"used": 99}, "disk", HealthStatus.ERROR),
        ({"fill": "failed"}, "fill", HealthStatus.WARNING),
        ({"fill": "partial"}, "fill", HealthStatus.WARNING),
        ({"errors": ["x"]}, "agent", HealthStatus.ERROR),
        ({"held": HeldDigest(missing_truncated=True)}, "held", HealthStatus.WARNING),
        # With the held-units bitmap a long missing list is no longer a blind spot.
        (
            {"held": HeldDigest(missing_truncated=True, held_units=encode_held_units([], []))},
            "held",
            HealthStatus.OK,
        ),
    ],
)
def test_worst_component_wins(
    kwargs: dict[str, object], component: str, status: HealthStatus
) -> None:
    record = run("gg")[-1]
    at = T0 + POLICY.interval * 3
    record = observe_heartbeat(record, heartbeat=beat(at, **kwargs), now=at, policy=POLICY)  # type: ignore[arg-type]
    assert record.components[component] is status
    assert record.status is status


def test_worst_ordering() -> None:
    assert worst([HealthStatus.OK, HealthStatus.UNKNOWN]) is HealthStatus.UNKNOWN
    assert (
        worst([HealthStatus.WARNING, HealthStatus.UNKNOWN, HealthStatus.OK]) is HealthStatus.WARNING
    )
    assert worst([HealthStatus.ERROR, HealthStatus.WARNING]) is HealthStatus.ERROR
    assert worst([]) is HealthStatus.UNKNOWN


def test_policy_refuses_thresholds_beyond_the_window() -> None:
    with pytest.raises(ValueError, match="must not exceed the window"):
        HealthPolicy(window=3, unhealthy_after=4)


def test_the_default_policy_tolerates_the_agents_jittered_heartbeats() -> None:
    policy = HealthPolicy()
    record = HealthRecord(appliance_id="a1")
    at = T0
    for gap in [15 * 1.2, 15 * 0.8] * 10:  # the agent's interval with its +-20% jitter
        at += timedelta(seconds=gap)
        record = observe_heartbeat(record, heartbeat=beat(at), now=at, policy=policy)
    assert record.healthy
    assert all(o.good for o in record.outcomes)
