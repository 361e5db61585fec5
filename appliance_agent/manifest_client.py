"""Fetch this appliance's manifest from the fleet API, validated whole or rejected whole.

`GET /fleet/v1/appliances/<id>/manifest` with `Authorization: Appliance <id>.<secret>` and
`If-None-Match: <etag>`: a 304 means the manifest is unchanged and costs no parsing at all.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from appliance_agent.errors import ControlPlaneError, ManifestRejected
from edgefill_contracts import MANIFEST_SCHEMA_VERSION, ApplianceCredential, Manifest
from edgefill_contracts.fleet_api import appliance_path
from edgefill_contracts.identity import CREDENTIAL_HEADER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedManifest:
    manifest: Manifest
    etag: str | None


class ManifestClient:
    """The manifest route of the fleet API for one appliance."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        credential: ApplianceCredential,
        byte_budget: int,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + appliance_path(credential.appliance_id, "manifest")
        self._credential = credential
        self._byte_budget = byte_budget

    def fetch(self, *, etag: str | None) -> FetchedManifest | None:
        """The new manifest, or None when it has not changed since `etag`."""
        headers = {CREDENTIAL_HEADER: self._credential.authorization_header()}
        if etag:
            headers["If-None-Match"] = etag
        try:
            response = self._client.get(self._url, headers=headers)
        except httpx.HTTPError as exc:
            raise ControlPlaneError(
                f"cannot reach the fleet API at {self._url}: {type(exc).__name__}: {exc}; "
                "keeping the current content and trying again later"
            ) from exc
        if response.status_code == 304:
            return None
        if response.status_code in (401, 403):
            raise ControlPlaneError(
                f"the fleet API refused this appliance's credential (HTTP "
                f"{response.status_code}): it may have been revoked; re-register the appliance"
            )
        if response.status_code != 200:
            raise ControlPlaneError(
                f"the fleet API answered HTTP {response.status_code} for the manifest; "
                "keeping the current content and trying again later"
            )
        manifest = self.parse(response.content)
        return FetchedManifest(manifest=manifest, etag=response.headers.get("etag"))

    def parse(self, body: bytes) -> Manifest:
        """Validate a manifest body as a whole; raise ManifestRejected saying what is wrong."""
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise ManifestRejected(f"manifest is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise ManifestRejected("manifest is not a JSON object")
        version = document.get("schema_version", MANIFEST_SCHEMA_VERSION)
        if version != MANIFEST_SCHEMA_VERSION:
            raise ManifestRejected(
                f"manifest schema version {version!r} is not one this agent reads "
                f"({MANIFEST_SCHEMA_VERSION}): upgrade the agent"
            )
        try:
            manifest = Manifest.model_validate(document)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(manifest)"
            raise ManifestRejected(
                f"manifest is invalid ({exc.error_count()} errors; first at {where}: "
                f"{first['msg']})"
            ) from exc
        if manifest.appliance_id != self._credential.appliance_id:
            raise ManifestRejected(
                f"manifest is for appliance {manifest.appliance_id!r}, not "
                f"{self._credential.appliance_id!r}"
            )
        if manifest.total_bytes > self._byte_budget:
            raise ManifestRejected(
                f"manifest {manifest.version} lists {manifest.total_bytes} bytes, over this "
                f"appliance's configured byte budget of {self._byte_budget}"
            )
        return manifest
