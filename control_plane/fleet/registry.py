"""The fleet registry: sites, clusters and appliances, bootstrap tokens, credentials, retirement."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from control_plane.common.documents import write_all
from control_plane.common.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
)
from control_plane.fleet.address_space import OwnedSpace
from control_plane.fleet.auth import (
    PresentedCredential,
    issue_credential,
    matches,
    new_bootstrap_token,
    sha256_hex,
)
from control_plane.fleet.lifecycle import record_change
from control_plane.fleet.models import (
    ADDRESS_PLAN_ID,
    MAX_ALLOCATIONS_TOTAL,
    AddressPlan,
    Appliance,
    ApplianceSpec,
    BootstrapToken,
    BootstrapTokenIssued,
    Cluster,
    ClusterSpec,
    IspSpec,
    Lifecycle,
    Site,
    SiteSpec,
)
from control_plane.fleet.state_machine import Actor
from control_plane.fleet.store import FleetStore
from edgefill_contracts.heartbeat import ApplianceState
from edgefill_contracts.identity import RegistrationRequest, RegistrationResponse
from edgefill_contracts.prefixes import prefix_set_version

logger = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP_TTL = timedelta(days=7)
_WRITE_ATTEMPTS = 4
# A DynamoDB transaction holds 100 items: the site, the address plan and its appliances.
MAX_SITE_APPLIANCES_PER_WRITE = 98
_REGISTRATION_REFUSED = (
    "registration refused: the bootstrap token is unknown, used or expired; "
    "ask an operator for a new one"
)


def put_site(store: FleetStore, *, site_id: str, spec: SiteSpec, now: datetime) -> Site:
    """Create or replace a site whose prefixes lie inside its ISP's registered address space.

    Refuses (400) a prefix outside that space or an ISP with none registered, (409) a prefix
    overlapping another ISP's space or announced as such by another site. The site is written
    in one transaction with the address plan's revision, so a concurrent change of the plan
    (or another site write) makes one of the two try again: no scan-then-write race with it.
    """
    for _ in range(_WRITE_ATTEMPTS):
        stored_plan = store.address_plan.get({"plan_id": ADDRESS_PLAN_ID})
        plan = stored_plan.doc if stored_plan is not None else AddressPlan()
        OwnedSpace(plan).check_site(spec.isp, spec.prefixes)
        mine = set(spec.prefixes)
        for other in store.sites.scan():
            if other.site_id != site_id and (clash := mine.intersection(other.prefixes)):
                raise Conflict(
                    f"prefix {sorted(clash)[0]} is already announced at site {other.site_id}; "
                    "remove it there first (a more specific prefix is fine)"
                )
        current = store.sites.get({"site_id": site_id})
        site = Site(site_id=site_id, updated_at=now, **spec.model_dump())
        version = prefix_set_version(site.prefixes)
        # The site's appliances learn the new version in the same transaction: each heartbeat
        # ack names it from the appliance record, so an on-net appliance fetches the new set
        # within one heartbeat, and none is left naming the old one.
        members = _appliances_to_tell(store, site_id=site_id, version=version)
        if len(members) > MAX_SITE_APPLIANCES_PER_WRITE:
            raise BadRequest(
                f"site {site_id} has {len(members)} appliances; a site write updates at most "
                f"{MAX_SITE_APPLIANCES_PER_WRITE} in one transaction: split the site"
            )
        if write_all(
            [
                store.sites.pending_write(
                    site, expected=current.revision if current is not None else None
                ),
                store.address_plan.pending_write(
                    plan, expected=stored_plan.revision if stored_plan is not None else None
                ),
                *(
                    store.appliances.pending_write(doc, expected=revision)
                    for doc, revision in members
                ),
            ]
        ):
            return site
    raise Unavailable(f"site {site_id} or the address plan is being changed right now; retry")


def _appliances_to_tell(
    store: FleetStore, *, site_id: str, version: str
) -> list[tuple[Appliance, int]]:
    """The site's appliances whose record names another prefix version, updated, each with
    the revision the transaction expects (a concurrent change makes it try again)."""
    found = []
    for appliance in store.appliances.scan():
        if appliance.site_id != site_id or appliance.client_prefixes_version == version:
            continue
        stored = store.appliances.get({"appliance_id": appliance.appliance_id})
        if stored is not None:
            found.append(
                (
                    stored.doc.model_copy(update={"client_prefixes_version": version}),
                    stored.revision,
                )
            )
    return found


def put_isp(store: FleetStore, *, isp: str, spec: IspSpec, now: datetime) -> AddressPlan:
    """Register (or replace) the address space of `isp`.

    Refuses (409) an allocation overlapping another ISP's, and a narrower space that would
    leave a prefix one of the ISP's sites announces outside it (the site names it).
    """
    for _ in range(_WRITE_ATTEMPTS):
        stored = store.address_plan.get({"plan_id": ADDRESS_PLAN_ID})
        plan = stored.doc if stored is not None else AddressPlan()
        others = OwnedSpace(AddressPlan(isps={k: v for k, v in plan.isps.items() if k != isp}))
        for block in spec.allocations:
            if (other := others.foreign(block, isp)) is not None:
                raise Conflict(
                    f"allocation {block} overlaps {other.block}, registered to ISP {other.isp}; "
                    "ISPs' address spaces may not overlap"
                )
        space = OwnedSpace(AddressPlan(isps={isp: spec.allocations}))
        for site in store.sites.scan():
            if site.isp != isp:
                continue
            for prefix in site.prefixes:
                if not space.holds(isp, prefix):
                    raise Conflict(
                        f"site {site.site_id} announces {prefix}, outside the new address space "
                        f"of {isp}; remove it from the site first"
                    )
        updated = AddressPlan(isps={**plan.isps, isp: list(spec.allocations)}, updated_at=now)
        total = sum(len(blocks) for blocks in updated.isps.values())
        if total > MAX_ALLOCATIONS_TOTAL:
            raise BadRequest(
                f"the address plan would hold {total} blocks, over its {MAX_ALLOCATIONS_TOTAL}: "
                f"register {isp}'s aggregates (its RIR allocations), not each prefix it announces"
            )
        if write_all(
            [
                store.address_plan.pending_write(
                    updated, expected=stored.revision if stored is not None else None
                )
            ]
        ):
            return updated
    raise Unavailable("the address plan is being changed right now; retry")


def put_cluster(store: FleetStore, *, cluster_id: str, spec: ClusterSpec, now: datetime) -> Cluster:
    store.sites.require({"site_id": spec.site_id}, f"site {spec.site_id}")
    existing = store.clusters.get({"cluster_id": cluster_id})
    if existing is not None and existing.doc.site_id != spec.site_id:
        raise Conflict(
            f"cluster {cluster_id} belongs to site {existing.doc.site_id}; "
            "clusters do not move between sites, create a new one"
        )
    cluster = Cluster(cluster_id=cluster_id, site_id=spec.site_id, updated_at=now)
    store.clusters.upsert(
        {"cluster_id": cluster_id}, initial=cluster, change=lambda _: cluster, what="cluster"
    )
    return cluster


def put_appliance(
    store: FleetStore, *, appliance_id: str, spec: ApplianceSpec, now: datetime
) -> Appliance:
    """Declare an appliance or update what an operator declares about it."""
    site = store.sites.require({"site_id": spec.site_id}, f"site {spec.site_id}").doc
    version = prefix_set_version(site.prefixes)
    cluster = store.clusters.require({"cluster_id": spec.cluster_id}, f"cluster {spec.cluster_id}")
    if cluster.doc.site_id != spec.site_id:
        raise BadRequest(
            f"cluster {spec.cluster_id} is at site {cluster.doc.site_id}, not {spec.site_id}"
        )
    initial = Appliance(
        appliance_id=appliance_id,
        created_at=now,
        updated_at=now,
        client_prefixes_version=version,
        **spec.model_dump(),
    )

    def change(current: Appliance) -> Appliance:
        if current.lifecycle is Lifecycle.RETIRED:
            raise Conflict(f"appliance {appliance_id} is retired; declare a new id instead")
        return current.model_copy(
            update={**spec.model_dump(), "updated_at": now, "client_prefixes_version": version}
        )

    return store.appliances.upsert(
        {"appliance_id": appliance_id}, initial=initial, change=change, what="appliance"
    )


def record_manifest_version(store: FleetStore, *, appliance_id: str, version: str) -> None:
    """Note on the appliance the newest manifest written for it (after it is in S3), which its
    heartbeat acks then name without reading S3."""
    store.appliances.update(
        {"appliance_id": appliance_id},
        lambda a: a.model_copy(update={"manifest_version": version}),
        what="appliance",
    )


def get_appliance(store: FleetStore, appliance_id: str) -> Appliance:
    return store.appliances.require({"appliance_id": appliance_id}, f"appliance {appliance_id}").doc


def issue_bootstrap_token(
    store: FleetStore, *, appliance_id: str, now: datetime, ttl: timedelta = DEFAULT_BOOTSTRAP_TTL
) -> BootstrapTokenIssued:
    """A new one-time token for the appliance (replacing any unused one)."""
    token = new_bootstrap_token()
    expires_at = now + ttl

    def change(appliance: Appliance) -> Appliance:
        if appliance.lifecycle is Lifecycle.RETIRED:
            raise Conflict(f"appliance {appliance_id} is retired; it cannot register again")
        bootstrap = BootstrapToken(token_hash=sha256_hex(token), expires_at=expires_at)
        return appliance.model_copy(update={"bootstrap": bootstrap, "updated_at": now})

    store.appliances.update(
        {"appliance_id": appliance_id}, change, what=f"appliance {appliance_id}"
    )
    return BootstrapTokenIssued(
        appliance_id=appliance_id, bootstrap_token=token, expires_at=expires_at
    )


def register(
    store: FleetStore, *, request: RegistrationRequest, now: datetime
) -> RegistrationResponse:
    """Exchange a bootstrap token, once, for a credential; any earlier credential is revoked."""
    token = request.bootstrap_token.get_secret_value()
    record, issued = issue_credential(appliance_id=request.appliance_id, now=now)
    previous: list[str | None] = []
    first_time: list[bool] = []

    def change(appliance: Appliance) -> Appliance:
        bootstrap = appliance.bootstrap
        if (
            appliance.lifecycle is Lifecycle.RETIRED
            or bootstrap is None
            or bootstrap.used_at is not None
            or bootstrap.expires_at <= now
            or not matches(token, bootstrap.token_hash)
        ):
            raise Unauthorized(_REGISTRATION_REFUSED)
        previous[:] = [appliance.credential_id]
        first_time[:] = [appliance.lifecycle is Lifecycle.PROVISIONED]
        update: dict[str, object] = {
            "bootstrap": bootstrap.model_copy(update={"used_at": now}),
            "credential_id": record.credential_id,
            "lifecycle": Lifecycle.ACTIVE,
            "updated_at": now,
        }
        if first_time[0]:
            update |= {
                "state": ApplianceState.SERVING,
                "state_reason": "registered",
                "state_changed_at": now,
            }
        return appliance.model_copy(update=update)

    if store.appliances.get({"appliance_id": request.appliance_id}) is None:
        raise Unauthorized(_REGISTRATION_REFUSED)
    store.credentials.create(record, what="credential")
    try:
        store.appliances.update({"appliance_id": request.appliance_id}, change, what="appliance")
    except Exception:
        _revoke_credential(store, record.credential_id, now=now)
        raise
    if previous and previous[0]:
        _revoke_credential(store, previous[0], now=now)
    record_change(
        store,
        appliance_id=request.appliance_id,
        from_state=ApplianceState.DRAINED if first_time[0] else None,
        to_state=ApplianceState.SERVING if first_time[0] else None,
        actor=Actor.REGISTRY,
        action="register",
        reason=f"registered with agent {request.agent_version}",
        now=now,
    )
    return RegistrationResponse(credential=issued, issued_at=now)


def authenticate(
    store: FleetStore, *, presented: PresentedCredential, appliance_id: str
) -> Appliance:
    """The appliance the credential belongs to, if it is valid and for `appliance_id`."""
    stored = store.credentials.get({"credential_id": presented.credential_id})
    refused = Unauthorized("the appliance credential is unknown or revoked; register again")
    if stored is None or stored.doc.revoked_at is not None:
        raise refused
    if not matches(presented.secret.get_secret_value(), stored.doc.secret_sha256):
        raise refused
    if stored.doc.appliance_id != appliance_id:
        raise Forbidden("an appliance may only read and write its own records")
    appliance = store.appliances.get({"appliance_id": appliance_id})
    if appliance is None or appliance.doc.lifecycle is Lifecycle.RETIRED:
        raise refused
    if appliance.doc.credential_id != presented.credential_id:
        raise refused
    return appliance.doc


def rotate_credential(
    store: FleetStore, *, appliance: Appliance, now: datetime
) -> RegistrationResponse:
    """A new credential for an authenticated appliance; the one it used is revoked."""
    record, issued = issue_credential(appliance_id=appliance.appliance_id, now=now)
    store.credentials.create(record, what="credential")
    store.appliances.update(
        {"appliance_id": appliance.appliance_id},
        lambda a: a.model_copy(update={"credential_id": record.credential_id, "updated_at": now}),
        what="appliance",
    )
    if appliance.credential_id:
        _revoke_credential(store, appliance.credential_id, now=now)
    return RegistrationResponse(credential=issued, issued_at=now)


def revoke(store: FleetStore, *, appliance_id: str, reason: str, now: datetime) -> Appliance:
    """Revoke the appliance's credential; it must register again with a new bootstrap token."""
    appliance = get_appliance(store, appliance_id)
    if appliance.credential_id:
        _revoke_credential(store, appliance.credential_id, now=now)
    updated = store.appliances.update(
        {"appliance_id": appliance_id},
        lambda a: a.model_copy(update={"credential_id": None, "updated_at": now}),
        what="appliance",
    )
    record_change(
        store,
        appliance_id=appliance_id,
        from_state=None,
        to_state=None,
        actor=Actor.ADMIN,
        action="revoke",
        reason=reason,
        now=now,
    )
    return updated


def retire(
    store: FleetStore, *, appliance_id: str, reason: str, force: bool, now: datetime
) -> Appliance:
    """Retire for good: only once Drained (or forced), and its credential stops working."""
    before: list[ApplianceState] = []

    def change(appliance: Appliance) -> Appliance:
        if appliance.lifecycle is Lifecycle.RETIRED:
            raise Conflict(f"appliance {appliance_id} is already retired")
        if appliance.state is not ApplianceState.DRAINED and not force:
            raise Conflict(
                f"appliance {appliance_id} is {appliance.state.value}; drain it and wait for "
                "Drained before retiring, or pass force=true"
            )
        before[:] = [appliance.state]
        return appliance.model_copy(
            update={
                "lifecycle": Lifecycle.RETIRED,
                "state": ApplianceState.DRAINED,
                "state_reason": reason,
                "state_changed_at": now,
                "updated_at": now,
            }
        )

    updated = store.appliances.update({"appliance_id": appliance_id}, change, what="appliance")
    if updated.credential_id:
        _revoke_credential(store, updated.credential_id, now=now)
    record_change(
        store,
        appliance_id=appliance_id,
        from_state=before[0],
        to_state=ApplianceState.DRAINED,
        actor=Actor.ADMIN,
        action="retire",
        reason=reason,
        now=now,
    )
    return updated


def _revoke_credential(store: FleetStore, credential_id: str, *, now: datetime) -> None:
    try:
        store.credentials.update(
            {"credential_id": credential_id},
            lambda c: c if c.revoked_at else c.model_copy(update={"revoked_at": now}),
            what="credential",
        )
    except NotFound:
        logger.warning("credential %s to revoke was not found", credential_id)
