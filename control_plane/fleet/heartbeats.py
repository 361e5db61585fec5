"""Heartbeat ingestion: damped health, the appliance's side of the state machine, the ack."""

from __future__ import annotations

import logging
from datetime import datetime

from control_plane.common.errors import BadRequest
from control_plane.fleet.health import HealthPolicy, HealthRecord, observe_heartbeat
from control_plane.fleet.lifecycle import apply_transition, record_health_flip
from control_plane.fleet.models import Appliance
from control_plane.fleet.state_machine import Actor, Transition
from control_plane.fleet.store import FleetStore
from control_plane.signing.key_store import SiteKeySource
from edgefill_contracts.fleet_api import HeartbeatAck
from edgefill_contracts.heartbeat import ApplianceState, Heartbeat

logger = logging.getLogger(__name__)


def ingest_heartbeat(
    store: FleetStore,
    *,
    secrets: SiteKeySource,
    appliance: Appliance,
    heartbeat: Heartbeat,
    policy: HealthPolicy,
    now: datetime,
) -> HeartbeatAck:
    """Record the heartbeat and answer with the state, manifest and secrets the appliance needs.

    Bounded work at fleet rate: the credential and appliance reads of authentication, one read
    and one conditional write of the health record (and an event when health flips); the
    manifest version comes from the appliance record, the secret ids from a cached set.

    The appliance moves its own state only toward draining: Serving -> Draining when it reports
    a drain it started itself (`appliance-agent drain`), Draining -> Drained when it reports
    Drained (its sessions have ended). A drain the agent began on an older state than the
    current one (it had not yet heard of the undrain that ended it) is not a new one: each ack
    carries `state_changed_at`, and the agent reports the one its drain began on as
    `state_basis`. Undraining is the operator's call: the ack's desired_state is what
    the appliance must converge to (an agent that starts up Drained is told to serve, one that
    reports Serving while drained is told to drain). Steering counts an appliance as Serving
    only when both sides say so.
    """
    if heartbeat.appliance_id != appliance.appliance_id:
        raise BadRequest(
            f"heartbeat is for {heartbeat.appliance_id!r} but was sent to "
            f"{appliance.appliance_id!r}; an appliance reports only for itself"
        )
    previous: list[bool] = []

    def update(record: HealthRecord) -> HealthRecord:
        previous[:] = [record.healthy]
        return observe_heartbeat(record, heartbeat=heartbeat, now=now, policy=policy)

    initial = observe_heartbeat(
        HealthRecord(appliance_id=appliance.appliance_id),
        heartbeat=heartbeat,
        now=now,
        policy=policy,
    )
    health = store.health.upsert(
        {"appliance_id": appliance.appliance_id}, initial=initial, change=update, what="health"
    )
    if previous and previous[0] != health.healthy:
        record_health_flip(
            store,
            appliance_id=appliance.appliance_id,
            healthy=health.healthy,
            reason=health.reason,
            now=now,
        )

    state, changed_at = appliance.state, appliance.state_changed_at
    reported = heartbeat.state
    if (
        state is ApplianceState.SERVING
        and reported is ApplianceState.DRAINING
        and not _drain_already_ended(appliance, heartbeat)
    ):
        updated = apply_transition(
            store,
            appliance_id=appliance.appliance_id,
            transition=Transition.DRAIN,
            actor=Actor.APPLIANCE,
            reason=f"appliance reported {reported.value}",
            now=now,
        )
        state, changed_at = updated.state, updated.state_changed_at
    if state is ApplianceState.DRAINING and reported is ApplianceState.DRAINED:
        updated = apply_transition(
            store,
            appliance_id=appliance.appliance_id,
            transition=Transition.DRAINED,
            actor=Actor.APPLIANCE,
            reason="appliance reported Drained",
            now=now,
        )
        state, changed_at = updated.state, updated.state_changed_at
    return HeartbeatAck(
        desired_state=state,
        state_changed_at=changed_at,
        # Recorded on the appliance by the manifest job: the ack costs no read of S3.
        manifest_version=appliance.manifest_version,
        signing_secret_ids=[s.secret_id for s in secrets.for_site(appliance.site_id, now=now)],
        # Written on the appliance with its site: the ack costs no read of the site.
        client_prefixes_version=appliance.client_prefixes_version,
    )


def _drain_already_ended(appliance: Appliance, heartbeat: Heartbeat) -> bool:
    """The reported drain began on an older state of the control plane's than the current one:
    it is the drain an undrain has ended, reported by an agent that has not yet heard of the
    undrain. Both times are the control plane's own, so agents' clocks do not matter."""
    basis, changed = heartbeat.state_basis, appliance.state_changed_at
    return basis is not None and changed is not None and basis < changed
