"""A fetched manifest body, validated whole or rejected whole with a reason a person can act on."""

from __future__ import annotations

import hashlib

from appliance_agent.errors import ManifestRejected
from edgefill_contracts import Manifest
from edgefill_contracts.manifest import InvalidManifest, decode_manifest


def parse_manifest(
    body: bytes, *, appliance_id: str, byte_budget: int, sha256: str | None = None
) -> Manifest:
    """The manifest in the gzip'd `body` if it is whole and valid, for `appliance_id`, within
    `byte_budget` and (when given) with the `sha256` the fleet API announced; ManifestRejected
    saying what is wrong otherwise."""
    if sha256 is not None:
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha256:
            raise ManifestRejected(
                f"manifest body has sha256 {actual[:16]}..., the fleet API announced "
                f"{sha256[:16]}...: a corrupted or substituted download"
            )
    try:
        manifest = decode_manifest(body)
    except InvalidManifest as exc:
        if "schema version" in str(exc):
            raise ManifestRejected(f"{exc}: upgrade the agent") from exc
        raise ManifestRejected(f"manifest is invalid ({exc})") from exc
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
