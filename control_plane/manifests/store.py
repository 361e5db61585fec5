"""Manifests in S3: one immutable object per (appliance, version) and a pointer to the latest.

    manifests/<appliance_id>/<version>.jsonl.gz     the manifest (edgefill_contracts.manifest)
    manifests/<appliance_id>/<version>.units.gz     its units in held-units bitmap order
    manifests/<appliance_id>/latest.json            ManifestPointer: version, size, sha256

The appliance downloads the body from S3 by a short-lived presigned URL the fleet API hands
out (`location`), never through a Lambda response (6 MB). The units file lets steering and
the health view map a held-units bitmap to units without reading a 15 MB manifest.
Written body first, pointer last: a pointer never names a body that is not there.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from control_plane.common.aws import s3, s3_presigner
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from edgefill_contracts.fleet_api import ManifestLocation
from edgefill_contracts.holdings import unit_order
from edgefill_contracts.manifest import MANIFEST_VERSION_PATTERN, Manifest, encode_manifest

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)

_ROOT = "manifests"
BODY_CONTENT_TYPE = "application/gzip"
LOCATION_TTL = timedelta(minutes=15)
_VERSION = re.compile(MANIFEST_VERSION_PATTERN)


class ManifestPointer(BaseModel):
    """`latest.json`: the newest manifest of one appliance, and how to check its download."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    size: int
    sha256: str
    written_at: datetime


class ManifestStore:
    def __init__(self, *, settings: ServiceSettings) -> None:
        self._client: S3Client = s3(settings)
        self._presigner: S3Client = s3_presigner(settings)
        self._bucket = settings.manifest_bucket

    def write(self, manifest: Manifest, *, now: datetime) -> bool:
        """Store `manifest` and point latest at it; False when latest already had its version."""
        current = self.latest(manifest.appliance_id)
        if current is not None and current.version == manifest.version:
            return False
        body = encode_manifest(manifest.header, manifest.titles)
        units = gzip.compress(("\n".join(unit_order(manifest)) + "\n").encode(), mtime=0)
        pointer = ManifestPointer(
            version=manifest.version,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            written_at=now,
        )
        base = f"{_ROOT}/{manifest.appliance_id}"
        meta = {"version": manifest.version}
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=f"{base}/{manifest.version}.jsonl.gz",
                Body=body,
                ContentType=BODY_CONTENT_TYPE,
                Metadata=meta,
            )
            self._client.put_object(
                Bucket=self._bucket,
                Key=f"{base}/{manifest.version}.units.gz",
                Body=units,
                ContentType=BODY_CONTENT_TYPE,
                Metadata=meta,
            )
            self._client.put_object(
                Bucket=self._bucket,
                Key=f"{base}/latest.json",
                Body=pointer.model_dump_json().encode(),
                ContentType="application/json",
                Metadata=meta,
            )
        except ClientError as exc:
            raise Unavailable("could not write the manifest to S3; the job will retry") from exc
        logger.info(
            "manifest %s written for %s (%d bytes)",
            manifest.version,
            manifest.appliance_id,
            len(body),
        )
        return True

    def latest(self, appliance_id: str) -> ManifestPointer | None:
        body = self._read(f"{_ROOT}/{appliance_id}/latest.json")
        if body is None:
            return None
        try:
            return ManifestPointer.model_validate_json(body)
        except ValidationError:
            # A pointer written by an older control plane (schema 1): no manifest to hand out.
            logger.warning(
                "manifest pointer of %s is not a ManifestPointer; ignoring it", appliance_id
            )
            return None

    def latest_version(self, appliance_id: str) -> str | None:
        pointer = self.latest(appliance_id)
        return None if pointer is None else pointer.version

    def location(self, appliance_id: str, *, now: datetime) -> ManifestLocation | None:
        """A presigned URL of the newest manifest's body, valid for LOCATION_TTL."""
        pointer = self.latest(appliance_id)
        if pointer is None:
            return None
        url = self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": f"{_ROOT}/{appliance_id}/{pointer.version}.jsonl.gz",
            },
            ExpiresIn=int(LOCATION_TTL.total_seconds()),
        )
        return ManifestLocation(
            version=pointer.version,
            url=url,
            size=pointer.size,
            sha256=pointer.sha256,
            expires_at=now + LOCATION_TTL,
        )

    def unit_order(self, appliance_id: str, version: str) -> tuple[str, ...] | None:
        """The units of one written manifest in held-units bitmap order; None if not written."""
        if not _VERSION.match(version):
            return None
        body = self._read(f"{_ROOT}/{appliance_id}/{version}.units.gz")
        if body is None:
            return None
        return tuple(line for line in gzip.decompress(body).decode().split("\n") if line)

    def body(self, appliance_id: str, version: str) -> bytes | None:
        """The gzip'd body of one written manifest (tests and the lab read it back)."""
        if not _VERSION.match(version):
            return None
        return self._read(f"{_ROOT}/{appliance_id}/{version}.jsonl.gz")

    def _read(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise Unavailable("could not read the manifest from S3; retry shortly") from exc
        return response["Body"].read()


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")
