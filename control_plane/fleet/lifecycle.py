"""State changes of one appliance, each written with its audit-trail entry."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime

from control_plane.fleet.models import Appliance, Lifecycle
from control_plane.fleet.state_machine import (
    Actor,
    InvalidTransition,
    StateChange,
    Transition,
    next_state,
)
from control_plane.fleet.store import FleetStore
from edgefill_contracts.heartbeat import ApplianceState

logger = logging.getLogger(__name__)


def record_change(
    store: FleetStore,
    *,
    appliance_id: str,
    from_state: ApplianceState | None,
    to_state: ApplianceState | None,
    actor: Actor,
    action: str,
    reason: str,
    now: datetime,
) -> StateChange:
    event = StateChange(
        appliance_id=appliance_id,
        # Time, then a process-monotonic tiebreak for events of the same instant, then noise.
        event_id=f"{now.isoformat()}#{time.monotonic_ns():020d}#{secrets.token_hex(3)}",
        at=now,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        action=action,
        reason=reason[:500],
    )
    store.audit.put(event)
    logger.info(
        "appliance %s: %s by %s (%s -> %s): %s",
        appliance_id,
        action,
        actor.value,
        from_state,
        to_state,
        reason,
    )
    return event


def record_health_flip(
    store: FleetStore, *, appliance_id: str, healthy: bool, reason: str, now: datetime
) -> StateChange:
    """The audit entry for an appliance turning healthy or unhealthy (the registry's verdict)."""
    return record_change(
        store,
        appliance_id=appliance_id,
        from_state=None,
        to_state=None,
        actor=Actor.REGISTRY,
        action="healthy" if healthy else "unhealthy",
        reason=reason,
        now=now,
    )


def apply_transition(
    store: FleetStore,
    *,
    appliance_id: str,
    transition: Transition,
    actor: Actor,
    reason: str,
    now: datetime,
    force: bool = False,
) -> Appliance:
    """Move the appliance's state (InvalidTransition if not allowed) and audit the change;
    a transition to the state it is already in is a no-op with no audit entry."""
    before: list[ApplianceState] = []

    def change(appliance: Appliance) -> Appliance:
        if appliance.lifecycle is Lifecycle.RETIRED:
            raise InvalidTransition(f"appliance {appliance_id} is retired; it has no serving state")
        before[:] = [appliance.state]
        target = next_state(appliance.state, transition, actor=actor, force=force)
        if target is appliance.state:
            return appliance
        return appliance.model_copy(
            update={
                "state": target,
                "state_reason": reason,
                "state_changed_at": now,
                "updated_at": now,
            }
        )

    updated = store.appliances.update(
        {"appliance_id": appliance_id}, change, what=f"appliance {appliance_id}"
    )
    if updated.state is before[0]:
        return updated
    record_change(
        store,
        appliance_id=appliance_id,
        from_state=before[0],
        to_state=updated.state,
        actor=actor,
        action=transition.value,
        reason=reason,
        now=now,
    )
    return updated
