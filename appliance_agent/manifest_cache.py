"""The last accepted manifest and its ETag, kept in the state directory across restarts.

With the control plane unreachable, or after it sends a bad manifest, the agent keeps filling
and serving by this one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from edgefill_contracts import Manifest

logger = logging.getLogger(__name__)

MANIFEST_FILE_NAME = "manifest.json"


class CachedManifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    etag: str | None
    manifest: Manifest


class ManifestCache:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / MANIFEST_FILE_NAME

    def load(self) -> CachedManifest | None:
        try:
            return CachedManifest.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            logger.warning(
                "cached manifest %s is unreadable (%s); fetching a fresh one", self.path, exc
            )
            return None

    def save(self, cached: CachedManifest) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(cached.model_dump_json().encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
