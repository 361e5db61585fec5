"""Manifests in S3: one immutable object per (appliance, version) and a pointer to the latest.

    manifests/<appliance_id>/<version>.json   the manifest, never rewritten
    manifests/<appliance_id>/latest.json      a copy of the newest one, served to the appliance

The version is a hash of the manifest's content, so it doubles as the HTTP ETag and writing
the same content twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from control_plane.common.aws import s3
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from edgefill_contracts.manifest import Manifest, ManifestObject

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)

_ROOT = "manifests"


@dataclass(frozen=True)
class StoredManifest:
    version: str
    body: bytes


def content_version(
    objects: list[ManifestObject], byte_budget: int, *, fill_opens: datetime
) -> str:
    """A version that changes whenever what the appliance must hold does, whenever the peers
    ranked before the origin change (an appliance that filled since makes its cluster's next
    manifests name it), and once per fill window (whose opening it names), so each window's
    sources are fresh. The origin URL itself (always last) is excluded: a presigned URL differs
    on every run and must not force a rewrite."""
    digest = hashlib.sha256()
    digest.update(f"{byte_budget} {fill_opens.isoformat()}".encode())
    for obj in sorted(objects, key=lambda o: o.key):
        peers = " ".join(str(source.host) for source in obj.sources[:-1])
        digest.update(f"\n{obj.key} {obj.size} {obj.sha256} {obj.priority} {peers}".encode())
    return "m" + digest.hexdigest()[:32]


class ManifestStore:
    def __init__(self, *, settings: ServiceSettings) -> None:
        self._client: S3Client = s3(settings)
        self._bucket = settings.manifest_bucket

    def write(self, manifest: Manifest) -> bool:
        """Store `manifest` and point latest at it; False when latest already had its version."""
        current = self.latest_version(manifest.appliance_id)
        if current == manifest.version:
            return False
        body = manifest.model_dump_json().encode()
        base = f"{_ROOT}/{manifest.appliance_id}"
        meta = {"version": manifest.version}
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=f"{base}/{manifest.version}.json",
                Body=body,
                ContentType="application/json",
                Metadata=meta,
            )
            self._client.put_object(
                Bucket=self._bucket,
                Key=f"{base}/latest.json",
                Body=body,
                ContentType="application/json",
                Metadata=meta,
            )
        except ClientError as exc:
            raise Unavailable("could not write the manifest to S3; the job will retry") from exc
        logger.info("manifest %s written for %s", manifest.version, manifest.appliance_id)
        return True

    def latest(self, appliance_id: str) -> StoredManifest | None:
        return self._read(f"{_ROOT}/{appliance_id}/latest.json")

    def latest_version(self, appliance_id: str) -> str | None:
        try:
            head = self._client.head_object(
                Bucket=self._bucket, Key=f"{_ROOT}/{appliance_id}/latest.json"
            )
        except ClientError as exc:
            if _missing(exc):
                return None
            raise Unavailable("could not read manifest metadata from S3; retry shortly") from exc
        return head.get("Metadata", {}).get("version")

    def version(self, appliance_id: str, version: str) -> Manifest | None:
        if not version.isalnum():
            return None
        stored = self._read(f"{_ROOT}/{appliance_id}/{version}.json")
        return None if stored is None else Manifest.model_validate_json(stored.body)

    def _read(self, key: str) -> StoredManifest | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise Unavailable("could not read the manifest from S3; retry shortly") from exc
        body = response["Body"].read()
        version = response.get("Metadata", {}).get("version") or json.loads(body)["version"]
        return StoredManifest(version=str(version), body=body)


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")
