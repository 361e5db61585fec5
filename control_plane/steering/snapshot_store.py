"""The steering snapshot in S3 (layout in `snapshot_format`): publish, read and sweep.

It lives in the manifest bucket under `steering/`: the job that writes it may write only there,
and playback may read only there (infra's access policy).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import ValidationError

from control_plane.common.aws import s3
from control_plane.common.settings import ServiceSettings
from control_plane.services import STEERING_SNAPSHOT_PREFIX
from control_plane.steering.snapshot_format import (
    SectionRef,
    SnapshotFormatError,
    SnapshotPointer,
    sha256_of,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

logger = logging.getLogger(__name__)

SNAPSHOT_ROOT = STEERING_SNAPSHOT_PREFIX
POINTER_KEY = f"{SNAPSHOT_ROOT}/current.json"
_EXTENSIONS = {"fleet": "json.gz", "holdings": "bin", "prefixes": "bin.gz"}
# How long a section no pointer names is kept: a reader that read the previous pointer may
# still fetch what it named.
SECTION_RETENTION = timedelta(hours=1)


@dataclass(frozen=True)
class SectionBytes:
    """A section to publish: its kind ('fleet', 'holdings', 'prefixes') and its bytes."""

    kind: str
    data: bytes

    def ref(self) -> SectionRef:
        digest = sha256_of(self.data)
        return SectionRef(
            key=f"{SNAPSHOT_ROOT}/{self.kind}/{digest}.{_EXTENSIONS[self.kind]}",
            sha256=digest,
            size=len(self.data),
        )


class SnapshotNotModified(Exception):
    """The pointer still has the ETag the reader holds."""


class SteeringSnapshotStore:
    def __init__(self, *, settings: ServiceSettings, client: S3Client | None = None) -> None:
        self._client: S3Client = client or s3(settings)
        self._bucket = settings.manifest_bucket

    def publish(
        self,
        *,
        fleet: bytes,
        holdings: bytes,
        prefixes: bytes,
        prefix_count: int,
        checked_at: datetime,
        previous: SnapshotPointer | None,
    ) -> tuple[SnapshotPointer, list[str]]:
        """Write the sections `previous` does not already name, then the pointer.

        Returns the new pointer and the kinds of section written (empty when only the pointer's
        `checked_at` moved on).
        """
        refs: dict[str, SectionRef] = {}
        written = []
        for section in (
            SectionBytes("fleet", fleet),
            SectionBytes("holdings", holdings),
            SectionBytes("prefixes", prefixes),
        ):
            ref = section.ref()
            refs[section.kind] = ref
            if previous is not None and getattr(previous, section.kind) == ref:
                continue
            self._client.put_object(Bucket=self._bucket, Key=ref.key, Body=section.data)
            written.append(section.kind)
        pointer = SnapshotPointer(
            checked_at=checked_at,
            fleet=refs["fleet"],
            holdings=refs["holdings"],
            prefixes=refs["prefixes"],
            prefix_count=prefix_count,
        )
        self._client.put_object(
            Bucket=self._bucket,
            Key=POINTER_KEY,
            Body=pointer.model_dump_json().encode(),
            ContentType="application/json",
            CacheControl="no-cache",
        )
        return pointer, written

    def pointer(self, *, etag: str | None = None) -> tuple[SnapshotPointer, str] | None:
        """The current pointer and its ETag; None when no snapshot was ever published.

        SnapshotNotModified when it still has `etag`; SnapshotFormatError when it is unreadable.
        """
        try:
            if etag:
                response = self._client.get_object(
                    Bucket=self._bucket, Key=POINTER_KEY, IfNoneMatch=etag
                )
            else:
                response = self._client.get_object(Bucket=self._bucket, Key=POINTER_KEY)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "304" or status == 304:
                raise SnapshotNotModified from exc
            if code in ("NoSuchKey", "404"):
                return None
            raise
        body = response["Body"].read()
        try:
            pointer = SnapshotPointer.model_validate_json(body)
        except ValidationError as exc:
            raise SnapshotFormatError(f"{POINTER_KEY} is unreadable: {exc}") from exc
        return pointer, response["ETag"]

    def section(self, ref: SectionRef) -> bytes:
        """A section's bytes, checked against its size and sha256."""
        response = self._client.get_object(Bucket=self._bucket, Key=ref.key)
        data = response["Body"].read()
        if len(data) != ref.size or sha256_of(data) != ref.sha256:
            raise SnapshotFormatError(
                f"{ref.key}: {len(data)} bytes that do not match the pointer's size and sha256"
            )
        return data

    def sweep(self, pointer: SnapshotPointer, *, now: datetime) -> int:
        """Delete sections the pointer does not name, once older than SECTION_RETENTION."""
        keep = {pointer.fleet.key, pointer.holdings.key, pointer.prefixes.key}
        deleted = 0
        paginator = self._client.get_paginator("list_objects_v2")
        for kind in _EXTENSIONS:
            for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{SNAPSHOT_ROOT}/{kind}/"):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key in keep or now - item["LastModified"] < SECTION_RETENTION:
                        continue
                    self._client.delete_object(Bucket=self._bucket, Key=key)
                    deleted += 1
        return deleted
