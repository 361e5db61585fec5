"""The last accepted manifest and its ETag, kept in the state directory across restarts.

With the control plane unreachable, or after it sends a bad manifest, the agent keeps filling
and serving by this one. The manifest is kept as it was downloaded (gzip'd JSON Lines, ~15 MB
for a whole catalog); a small head file (ETag and version) sits beside it, so a poll that gets
304 Not Modified never decodes a manifest of 280,000 files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from appliance_agent.atomic_file import write_atomically
from edgefill_contracts import Manifest
from edgefill_contracts.manifest import InvalidManifest, decode_manifest

logger = logging.getLogger(__name__)

MANIFEST_FILE_NAME = "manifest.jsonl.gz"
HEAD_FILE_NAME = "manifest.head.json"
# Schema 1's cache, removed once a schema-2 manifest is saved.
_OLD_MANIFEST_FILE_NAME = "manifest.json"


class CachedHead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    etag: str | None
    version: str


@dataclass(frozen=True)
class CachedManifest:
    etag: str | None
    manifest: Manifest


class ManifestCache:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / MANIFEST_FILE_NAME
        self.head_path = state_dir / HEAD_FILE_NAME

    def head(self) -> CachedHead | None:
        """ETag and version of the cached manifest, without reading the manifest."""
        try:
            return CachedHead.model_validate_json(self.head_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            logger.warning("manifest head %s is unreadable (%s); ignoring it", self.head_path, exc)
            return None

    def load(self) -> CachedManifest | None:
        head = self.head()
        try:
            with self.path.open("rb") as body:
                manifest = decode_manifest(body)
        except FileNotFoundError:
            # A head without its manifest (an agent upgraded from schema 1's cache, or a lost
            # file): drop it, so the next fetch is a full one and not a 304.
            self.head_path.unlink(missing_ok=True)
            return None
        except (OSError, InvalidManifest) as exc:
            logger.warning(
                "cached manifest %s is unreadable (%s); fetching a fresh one", self.path, exc
            )
            # Without its manifest the head's ETag must not turn the next fetch into a 304.
            self.head_path.unlink(missing_ok=True)
            return None
        etag = head.etag if head is not None and head.version == manifest.version else None
        return CachedManifest(etag=etag, manifest=manifest)

    def save(self, *, etag: str | None, version: str, body: bytes) -> None:
        """Write the manifest's body, then its head: a head never names a manifest not on disk."""
        write_atomically(self.path, body)
        head = CachedHead(etag=etag, version=version)
        write_atomically(self.head_path, head.model_dump_json().encode())
        (self.path.parent / _OLD_MANIFEST_FILE_NAME).unlink(missing_ok=True)
