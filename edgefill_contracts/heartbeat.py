"""The heartbeat: what an appliance tells the control plane about itself every few seconds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from edgefill_contracts.manifest import MAX_MANIFEST_FILES

HEARTBEAT_SCHEMA_VERSION: Final = 1
MAX_REPORTED_MISSING_KEYS = 1_000
# With a held-units bitmap the missing keys are only a sample for people: 1,000 keys of ~40
# characters made the stored health record ~45 KB, 45 write units per heartbeat.
MAX_SAMPLED_MISSING_KEYS = 16
MAX_REPORTED_ERRORS = 20
# A manifest lists at most MAX_MANIFEST_FILES files, hence at most as many units: a bitmap
# of 62,500 bytes, which zlib grows by well under 1 KiB at worst, base64-encoded.
MAX_HELD_UNITS_CHARS = 4 * ((MAX_MANIFEST_FILES // 8 + 1_024) // 3 + 1)


class ApplianceState(StrEnum):
    """Serving lifecycle: the control plane steers new sessions only to SERVING appliances."""

    SERVING = "Serving"
    DRAINING = "Draining"
    DRAINED = "Drained"


class DiskUsage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    total_bytes: int = Field(ge=0)
    used_bytes: int = Field(ge=0)
    free_bytes: int = Field(ge=0)


class HeldDigest(BaseModel):
    """What the appliance holds, compactly, relative to its applied manifest.

    `held_units` (every current agent sends it) says exactly which units of the applied manifest are held
    whole, for any manifest size: a bitmap over the manifest's units in sorted order
    (edgefill_contracts.holdings). Without it (older agents) steering falls back to the applied
    manifest minus `missing_keys`; when more keys are missing than fit, `missing_truncated` is
    set and the whole manifest counts as unverified for that appliance. With a bitmap, agents
    send at most MAX_SAMPLED_MISSING_KEYS missing keys (`missing_truncated` when there are more):
    a sample to show people, never what steering reads.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    manifest_version: str | None = None
    object_count: int = Field(default=0, ge=0)
    object_bytes: int = Field(default=0, ge=0)
    held_units: str | None = Field(
        default=None,
        max_length=MAX_HELD_UNITS_CHARS,
        pattern=r"^[A-Za-z0-9+/]*={0,2}$",
        description="base64 of the zlib-compressed bitmap of held units (see holdings.py).",
    )
    missing_keys: list[str] = Field(default_factory=list, max_length=MAX_REPORTED_MISSING_KEYS)
    missing_truncated: bool = False


class ServingCounters(BaseModel):
    """Cumulative since the agent started; the control plane computes rates from deltas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int = Field(default=0, ge=0)
    bytes_sent: int = Field(default=0, ge=0)
    by_status: dict[str, int] = Field(default_factory=dict)
    active_connections: int = Field(default=0, ge=0)


class FillProgress(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    running: bool = False
    objects_total: int = Field(default=0, ge=0)
    objects_done: int = Field(default=0, ge=0)
    bytes_total: int = Field(default=0, ge=0)
    bytes_done: int = Field(default=0, ge=0)
    bytes_from_peers: int = Field(default=0, ge=0)
    bytes_from_origin: int = Field(default=0, ge=0)
    last_result: Literal["ok", "partial", "failed", "never"] = "never"
    last_finished_at: datetime | None = None


class Heartbeat(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = HEARTBEAT_SCHEMA_VERSION
    appliance_id: str = Field(min_length=1, max_length=128)
    agent_version: str = Field(min_length=1, max_length=64)
    sent_at: datetime
    state: ApplianceState
    state_basis: datetime | None = Field(
        default=None,
        description="The control plane's `state_changed_at` the appliance knew when it entered "
        "`state` (the control plane's clock, so no clock skew): tells a drain the appliance "
        "started itself from one an operator's undrain has already ended.",
    )
    disk: DiskUsage
    held: HeldDigest
    serving: ServingCounters
    fill: FillProgress
    accepted_secret_ids: list[str] = Field(default_factory=list, max_length=8)
    ktls_active: bool = False
    errors: list[str] = Field(default_factory=list, max_length=MAX_REPORTED_ERRORS)
