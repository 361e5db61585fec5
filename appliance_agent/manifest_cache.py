"""The last accepted manifest and its ETag, kept in the state directory across restarts.

With the control plane unreachable, or after it sends a bad manifest, the agent keeps filling
and serving by this one. A small head file (ETag and version) sits beside it, so a poll that
gets 304 Not Modified never parses a manifest of 100k objects.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from appliance_agent.atomic_file import write_atomically
from edgefill_contracts import Manifest

logger = logging.getLogger(__name__)

MANIFEST_FILE_NAME = "manifest.json"
HEAD_FILE_NAME = "manifest.head.json"


class CachedHead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    etag: str | None
    version: str


class CachedManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
        try:
            return CachedManifest.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            logger.warning(
                "cached manifest %s is unreadable (%s); fetching a fresh one", self.path, exc
            )
            # Without its manifest the head's ETag must not turn the next fetch into a 304.
            self.head_path.unlink(missing_ok=True)
            return None

    def save(self, cached: CachedManifest) -> None:
        """Write the manifest, then its head: a head never names a manifest not on disk."""
        write_atomically(self.path, cached.model_dump_json().encode())
        head = CachedHead(etag=cached.etag, version=cached.manifest.version)
        write_atomically(self.head_path, head.model_dump_json().encode())
