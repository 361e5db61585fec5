"""The serving state machine (Serving / Draining / Drained): who may move an appliance where.

    Serving  --drain (admin, appliance)-->  Draining  --drained (appliance; admin with force)-->  Drained
    Draining --undrain (admin)-->  Serving
    Drained  --undrain (admin)-->  Serving

New sessions go only to Serving appliances; Draining ones finish the sessions they have.
A transition to the state the appliance is already in changes nothing and is not an error.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from control_plane.common.errors import Conflict
from edgefill_contracts.heartbeat import ApplianceState

S = ApplianceState


class Actor(StrEnum):
    ADMIN = "admin"
    APPLIANCE = "appliance"
    REGISTRY = "registry"  # registration and retirement


class Transition(StrEnum):
    DRAIN = "drain"
    DRAINED = "drained"
    UNDRAIN = "undrain"


_ALLOWED: dict[tuple[ApplianceState, Transition], tuple[ApplianceState, frozenset[Actor]]] = {
    (S.SERVING, Transition.DRAIN): (S.DRAINING, frozenset({Actor.ADMIN, Actor.APPLIANCE})),
    (S.DRAINING, Transition.DRAINED): (S.DRAINED, frozenset({Actor.APPLIANCE, Actor.ADMIN})),
    (S.DRAINING, Transition.UNDRAIN): (S.SERVING, frozenset({Actor.ADMIN, Actor.REGISTRY})),
    (S.DRAINED, Transition.UNDRAIN): (S.SERVING, frozenset({Actor.ADMIN, Actor.REGISTRY})),
}


_TARGET = {
    Transition.DRAIN: S.DRAINING,
    Transition.DRAINED: S.DRAINED,
    Transition.UNDRAIN: S.SERVING,
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


class StateChange(BaseModel):
    """One audit-trail entry: what changed, who did it, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    event_id: str = Field(description="Sortable: ISO time then a random suffix.")
    at: datetime
    from_state: ApplianceState | None
    to_state: ApplianceState | None
    actor: Actor
    action: str
    reason: str = Field(max_length=500)


def next_state(
    current: ApplianceState, transition: Transition, *, actor: Actor, force: bool = False
) -> ApplianceState:
    """The state after `transition`, or InvalidTransition saying what is allowed instead.

    Asking for the state the appliance is already in is a no-op, not an error, so operator
    tooling (Ansible's drain/undrain tasks) can be re-run safely.
    """
    if _TARGET[transition] is current:
        return current
    if transition is Transition.DRAINED and actor is Actor.ADMIN and not force:
        raise InvalidTransition(
            "only the appliance reports Drained when its sessions have ended; "
            "an operator may force it with force=true"
        )
    allowed = _ALLOWED.get((current, transition))
    if allowed is None:
        raise InvalidTransition(f"cannot {transition.value} an appliance that is {current.value}")
    target, actors = allowed
    if actor not in actors:
        raise InvalidTransition(f"{actor.value} may not {transition.value} an appliance")
    return target
