"""A fetched manifest body, validated whole or rejected whole with a reason a person can act on."""

from __future__ import annotations

import json

from pydantic import ValidationError

from appliance_agent.errors import ManifestRejected
from edgefill_contracts import MANIFEST_SCHEMA_VERSION, Manifest


def parse_manifest(body: bytes, *, appliance_id: str, byte_budget: int) -> Manifest:
    """The manifest in `body` if it is valid, for `appliance_id` and within `byte_budget`;
    ManifestRejected saying what is wrong otherwise."""
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
            f"manifest is invalid ({exc.error_count()} errors; first at {where}: {first['msg']})"
        ) from exc
    if manifest.appliance_id != appliance_id:
        raise ManifestRejected(
            f"manifest is for appliance {manifest.appliance_id!r}, not {appliance_id!r}"
        )
    if manifest.total_bytes > byte_budget:
        raise ManifestRejected(
            f"manifest {manifest.version} lists {manifest.total_bytes} bytes, over this "
            f"appliance's configured byte budget of {byte_budget}"
        )
    return manifest
