"""Routes an appliance calls with its own credential (paths from edgefill_contracts.fleet_api)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Response

from control_plane.common.errors import NotFound
from control_plane.fleet import registry
from control_plane.fleet.deps import CallingAppliance, Context
from control_plane.fleet.heartbeats import ingest_heartbeat
from control_plane.signing.key_store import as_contract
from edgefill_contracts.fleet_api import (
    FLEET_PREFIX,
    CertificateRequest,
    CertificateResponse,
    ClientPrefixes,
    HeartbeatAck,
    ManifestLocation,
    OriginUrlRequest,
    OriginUrls,
    SigningSecretSet,
)
from edgefill_contracts.heartbeat import Heartbeat
from edgefill_contracts.identity import RegistrationRequest, RegistrationResponse
from edgefill_contracts.prefixes import prefix_set_version
from edgefill_contracts.served import ServedAck, ServedReport

router = APIRouter(prefix=FLEET_PREFIX, tags=["appliance"])

# How long an origin URL handed to a fill stays valid; the agent asks again before it ends.
ORIGIN_URL_TTL = timedelta(hours=1)


@router.post("/register", response_model=RegistrationResponse)
def register(context: Context, body: RegistrationRequest) -> Response:
    response = registry.register(context.store, request=body, now=context.clock())
    # The credential's secret is shown exactly once, here; SecretStr would mask it.
    payload = response.model_dump(mode="json")
    payload["credential"]["secret"] = response.credential.secret.get_secret_value()
    return Response(
        content=_json(payload), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.post("/appliances/{appliance_id}/credential", response_model=RegistrationResponse)
def rotate_credential(context: Context, appliance: CallingAppliance) -> Response:
    response = registry.rotate_credential(context.store, appliance=appliance, now=context.clock())
    payload = response.model_dump(mode="json")
    payload["credential"]["secret"] = response.credential.secret.get_secret_value()
    return Response(
        content=_json(payload), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.post("/appliances/{appliance_id}/heartbeat")
def heartbeat(context: Context, appliance: CallingAppliance, body: Heartbeat) -> HeartbeatAck:
    return ingest_heartbeat(
        context.store,
        secrets=context.active_secrets,
        appliance=appliance,
        heartbeat=body,
        policy=context.health_policy,
        now=context.clock(),
    )


@router.get(
    "/appliances/{appliance_id}/manifest",
    response_model=ManifestLocation,
    responses={304: {"description": "If-None-Match matched the current version"}},
)
def manifest(
    context: Context,
    appliance: CallingAppliance,
    if_none_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> Response:
    """Where the newest manifest is (a presigned S3 URL), never the manifest itself: a whole
    catalog's manifest is ~15 MB, over a Lambda response's 6 MB."""
    pointer = context.manifests.latest(appliance.appliance_id)
    if pointer is None:
        raise NotFound(
            f"no manifest has been written for {appliance.appliance_id} yet; "
            "it appears before the site's next fill window"
        )
    etag = f'"{pointer.version}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None and _etag_matches(if_none_match, pointer.version):
        return Response(status_code=304, headers=headers)
    location = context.manifests.location(appliance.appliance_id, now=context.clock())
    if location is None:
        raise NotFound(f"the manifest of {appliance.appliance_id} was removed; retry shortly")
    return Response(
        content=location.model_dump_json(), media_type="application/json", headers=headers
    )


@router.post("/appliances/{appliance_id}/origin-urls")
def origin_urls(
    context: Context, appliance: CallingAppliance, body: OriginUrlRequest
) -> OriginUrls:
    """Presigned origin GETs for keys a fill is about to fetch, valid for ORIGIN_URL_TTL."""
    del appliance  # authenticated; the origin holds nothing one appliance may have and not another
    expires_at = context.clock() + ORIGIN_URL_TTL
    urls = {key: context.origin(key=key, expires_at=expires_at) for key in body.keys}
    return OriginUrls.model_validate({"expires_at": expires_at, "urls": urls})


@router.get("/appliances/{appliance_id}/signing-secrets", response_model=SigningSecretSet)
def signing_secrets(context: Context, appliance: CallingAppliance) -> Response:
    # Its own site's keys only: a stolen appliance's set signs nothing for another site.
    site_id = appliance.site_id
    secret_set = as_contract(context.active_secrets.for_site(site_id, now=context.clock()))
    payload = secret_set.model_dump(mode="json")
    for entry, secret in zip(payload["secrets"], secret_set.secrets, strict=True):
        entry["secret"] = secret.secret.get_secret_value()
    return Response(
        content=_json(payload), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.get("/appliances/{appliance_id}/client-prefixes")
def client_prefixes(context: Context, appliance: CallingAppliance) -> ClientPrefixes:
    """Its site's client prefixes: with on-net only, whom it serves playback to."""
    site = context.store.sites.require(
        {"site_id": appliance.site_id}, f"site {appliance.site_id}"
    ).doc
    return ClientPrefixes(
        site_id=site.site_id,
        version=prefix_set_version(site.prefixes),
        prefixes=tuple(site.prefixes),
    )


@router.post("/appliances/{appliance_id}/certificate")
def certificate(
    context: Context, appliance: CallingAppliance, body: CertificateRequest
) -> CertificateResponse:
    return context.certificate_authority.issue(
        appliance=appliance, request=body, now=context.clock()
    )


@router.post("/appliances/{appliance_id}/served")
def served(context: Context, appliance: CallingAppliance, body: ServedReport) -> ServedAck:
    """Bytes served per unit since the appliance's previous report; stored once per report id."""
    return context.served_reports.record(
        appliance_id=appliance.appliance_id, report=body, now=context.clock()
    )


def _etag_matches(header: str, version: str) -> bool:
    candidates = [part.strip().removeprefix("W/").strip('"') for part in header.split(",")]
    return "*" in candidates or version in candidates


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
