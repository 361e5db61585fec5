"""The Serving / Draining / Drained state machine."""

from __future__ import annotations

import pytest

from control_plane.fleet.state_machine import Actor, InvalidTransition, Transition, next_state
from edgefill_contracts.heartbeat import ApplianceState as S

A, P, R = Actor.ADMIN, Actor.APPLIANCE, Actor.REGISTRY


@pytest.mark.parametrize(
    ("current", "transition", "actor", "force", "target"),
    [
        (S.SERVING, Transition.DRAIN, A, False, S.DRAINING),
        (S.SERVING, Transition.DRAIN, P, False, S.DRAINING),
        (S.DRAINING, Transition.DRAINED, P, False, S.DRAINED),
        (S.DRAINING, Transition.DRAINED, A, True, S.DRAINED),
        (S.DRAINING, Transition.UNDRAIN, A, False, S.SERVING),
        (S.DRAINED, Transition.UNDRAIN, A, False, S.SERVING),
    ],
)
def test_allowed(current: S, transition: Transition, actor: Actor, force: bool, target: S) -> None:
    assert next_state(current, transition, actor=actor, force=force) is target


@pytest.mark.parametrize(
    ("current", "transition", "actor", "message"),
    [
        (S.DRAINING, Transition.DRAINED, A, "force=true"),
        (S.SERVING, Transition.DRAINED, P, "cannot drained an appliance that is Serving"),
        (S.DRAINED, Transition.DRAIN, A, "cannot drain an appliance that is Drained"),
        (S.DRAINED, Transition.UNDRAIN, P, "appliance may not undrain"),
    ],
)
def test_refused(current: S, transition: Transition, actor: Actor, message: str) -> None:
    with pytest.raises(InvalidTransition, match=message) as caught:
        next_state(current, transition, actor=actor)
    assert caught.value.status_code == 409


@pytest.mark.parametrize(
    ("current", "transition", "actor"),
    [
        (S.SERVING, Transition.UNDRAIN, A),
        (S.DRAINING, Transition.DRAIN, A),
        (S.DRAINING, Transition.DRAIN, P),
        (S.DRAINED, Transition.DRAINED, A),
    ],
)
def test_asking_for_the_current_state_is_a_no_op(
    current: S, transition: Transition, actor: Actor
) -> None:
    assert next_state(current, transition, actor=actor) is current
