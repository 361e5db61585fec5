"""Operator routes (`Authorization: Bearer <admin token>`): registry, state, secrets, jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from control_plane.fleet import registry
from control_plane.fleet.deps import AdminAccess, Context, PathId
from control_plane.fleet.inventory import Inventory, build_inventory
from control_plane.fleet.lifecycle import apply_transition
from control_plane.fleet.models import (
    ADDRESS_PLAN_ID,
    AddressPlan,
    Appliance,
    ApplianceSpec,
    BootstrapTokenIssued,
    Cluster,
    ClusterSpec,
    IspSpec,
    Site,
    SiteSpec,
    StateChangeRequest,
)
from control_plane.fleet.state_machine import Actor, StateChange, Transition
from control_plane.popularity.models import StreamedEventBatch
from control_plane.signing.key_store import DEFAULT_GRACE
from edgefill_contracts.fleet_api import FLEET_PREFIX

router = APIRouter(prefix=f"{FLEET_PREFIX}/admin", tags=["admin"], dependencies=[AdminAccess])

DEFAULT_GRACE_S = int(DEFAULT_GRACE.total_seconds())
MAX_GRACE_S = 7 * 24 * 3600


def _state_change(body: StateChangeRequest | None = None) -> StateChangeRequest:
    """The optional body of drain/undrain/retire/revoke (Ansible's uri task sends none)."""
    return body or StateChangeRequest()


StateChangeBody = Annotated[StateChangeRequest, Depends(_state_change)]
inventory_router = APIRouter(prefix=FLEET_PREFIX, tags=["admin"], dependencies=[AdminAccess])


@inventory_router.get("/inventory")
def inventory(context: Context, include_retired: bool = False) -> Inventory:
    return build_inventory(
        context.store,
        now=context.clock(),
        policy=context.health_policy,
        include_retired=include_retired,
    )


@router.put("/sites/{site_id}")
def put_site(context: Context, site_id: PathId, body: SiteSpec) -> Site:
    return registry.put_site(context.store, site_id=site_id, spec=body, now=context.clock())


@router.get("/sites/{site_id}")
def get_site(context: Context, site_id: PathId) -> Site:
    return context.store.sites.require({"site_id": site_id}, f"site {site_id}").doc


@router.put("/isps/{isp}")
def put_isp(context: Context, isp: PathId, body: IspSpec) -> AddressPlan:
    """Register the address space of `isp`; its sites announce prefixes only inside it."""
    return registry.put_isp(context.store, isp=isp, spec=body, now=context.clock())


@router.get("/isps")
def get_address_plan(context: Context) -> AddressPlan:
    """Every ISP's registered address space."""
    stored = context.store.address_plan.get({"plan_id": ADDRESS_PLAN_ID})
    return stored.doc if stored is not None else AddressPlan()


@router.put("/clusters/{cluster_id}")
def put_cluster(context: Context, cluster_id: PathId, body: ClusterSpec) -> Cluster:
    return registry.put_cluster(
        context.store, cluster_id=cluster_id, spec=body, now=context.clock()
    )


@router.put("/appliances/{appliance_id}")
def put_appliance(context: Context, appliance_id: PathId, body: ApplianceSpec) -> Appliance:
    return registry.put_appliance(
        context.store, appliance_id=appliance_id, spec=body, now=context.clock()
    )


@router.get("/appliances/{appliance_id}")
def get_appliance(context: Context, appliance_id: PathId) -> Appliance:
    return registry.get_appliance(context.store, appliance_id)


@router.post("/appliances/{appliance_id}/bootstrap-token")
def bootstrap_token(context: Context, appliance_id: PathId) -> BootstrapTokenIssued:
    return registry.issue_bootstrap_token(
        context.store, appliance_id=appliance_id, now=context.clock()
    )


@router.post("/appliances/{appliance_id}/drain")
def drain(context: Context, appliance_id: PathId, body: StateChangeBody) -> Appliance:
    return apply_transition(
        context.store,
        appliance_id=appliance_id,
        transition=Transition.DRAIN,
        actor=Actor.ADMIN,
        reason=body.reason,
        now=context.clock(),
    )


@router.post("/appliances/{appliance_id}/drained")
def mark_drained(context: Context, appliance_id: PathId, body: StateChangeBody) -> Appliance:
    return apply_transition(
        context.store,
        appliance_id=appliance_id,
        transition=Transition.DRAINED,
        actor=Actor.ADMIN,
        reason=body.reason,
        force=body.force,
        now=context.clock(),
    )


@router.post("/appliances/{appliance_id}/undrain")
def undrain(context: Context, appliance_id: PathId, body: StateChangeBody) -> Appliance:
    return apply_transition(
        context.store,
        appliance_id=appliance_id,
        transition=Transition.UNDRAIN,
        actor=Actor.ADMIN,
        reason=body.reason,
        now=context.clock(),
    )


@router.post("/appliances/{appliance_id}/retire")
def retire(context: Context, appliance_id: PathId, body: StateChangeBody) -> Appliance:
    return registry.retire(
        context.store,
        appliance_id=appliance_id,
        reason=body.reason,
        force=body.force,
        now=context.clock(),
    )


@router.post("/appliances/{appliance_id}/revoke")
def revoke(context: Context, appliance_id: PathId, body: StateChangeBody) -> Appliance:
    return registry.revoke(
        context.store, appliance_id=appliance_id, reason=body.reason, now=context.clock()
    )


@router.get("/appliances/{appliance_id}/audit")
def audit(
    context: Context,
    appliance_id: PathId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[StateChange]:
    registry.get_appliance(context.store, appliance_id)
    return context.store.audit.query(appliance_id, newest_first=True, limit=limit)


@router.post("/sites/{site_id}/signing-secrets/rotate")
def rotate_site_signing_secret(
    context: Context,
    site_id: PathId,
    grace_s: Annotated[int, Query(ge=0, le=MAX_GRACE_S)] = DEFAULT_GRACE_S,
) -> dict[str, str]:
    """A new URL-signing key for one site; its older keys expire after `grace_s` (0 revokes
    them at once: for a stolen appliance). No other site's keys change."""
    context.store.sites.require({"site_id": site_id}, f"site {site_id}")
    now = context.clock()
    fresh = context.secrets.rotate(site_id, now=now, grace=timedelta(seconds=grace_s))
    # This container's acks name it at once; others within their cache's minute.
    context.active_secrets.invalidate()
    return {
        "site_id": site_id,
        "secret_id": fresh.secret_id,
        "older_keys_expire_at": (now + timedelta(seconds=grace_s)).isoformat(),
    }


@router.post("/popularity/events")
def popularity_events(context: Context, body: StreamedEventBatch) -> dict[str, int]:
    return {"units_updated": context.popularity.record(body.events)}
