"""The fill manifest: what one appliance must hold, and where to fetch each object from."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.object_key import ObjectKey

MANIFEST_SCHEMA_VERSION: Final = 1
MAX_MANIFEST_OBJECTS = 500_000
MAX_SOURCES_PER_OBJECT = 16
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class ManifestObject(BaseModel):
    """One file to hold: its key, exact size and sha256, and ranked sources (peers, then origin)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: ObjectKey
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN)
    priority: int = Field(default=0, ge=0, description="Higher fills first.")
    sources: list[AnyHttpUrl] = Field(min_length=1, max_length=MAX_SOURCES_PER_OBJECT)


class Manifest(BaseModel):
    """All one appliance must hold after its next fill; rejected whole if any part is bad."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = MANIFEST_SCHEMA_VERSION
    appliance_id: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=128, description="Changes whenever content does.")
    generated_at: datetime
    fill_window: FillWindow
    byte_budget: int = Field(ge=0)
    objects: list[ManifestObject] = Field(max_length=MAX_MANIFEST_OBJECTS)

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        seen: set[str] = set()
        for obj in self.objects:
            if obj.key in seen:
                raise ValueError(f"duplicate object key {obj.key!r}")
            seen.add(obj.key)
        total = self.total_bytes
        if total > self.byte_budget:
            raise ValueError(
                f"objects total {total} bytes, over the manifest's byte budget of "
                f"{self.byte_budget}"
            )
        return self

    @property
    def total_bytes(self) -> int:
        return sum(obj.size for obj in self.objects)
