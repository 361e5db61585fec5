"""Fleet registry records: sites, clusters, appliances, credentials and the API's request bodies."""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.heartbeat import ApplianceState
from edgefill_contracts.identity import FLEET_ID_PATTERN
from edgefill_contracts.prefixes import NetworkPrefix

MAX_PREFIXES_PER_SITE = 10_000
# One document holds every ISP's allocations (DynamoDB items stop at 400 KB; an IPv6 block is
# ~25 bytes of JSON): at most 10,000 blocks fleet-wide. An ISP registers its aggregates, not
# each announced prefix.
MAX_ALLOCATIONS_PER_ISP = 1_000
MAX_ALLOCATIONS_TOTAL = 10_000
ADDRESS_PLAN_ID = "current"
MAX_ADDRESSES = 8
ID_PATTERN = FLEET_ID_PATTERN

FleetId = Annotated[str, Field(pattern=ID_PATTERN)]


def _canonical_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from exc


Prefix = NetworkPrefix


def _distinct(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        twice = sorted(p for p, n in Counter(value).items() if n > 1)
        raise ValueError(f"prefixes must be distinct; given more than once: {', '.join(twice)}")
    return value


DistinctPrefixes = Annotated[list[Prefix], AfterValidator(_distinct)]
Address = Annotated[str, AfterValidator(_canonical_address)]


class SiteSpec(BaseModel):
    """What an operator declares about a site: where it is and which client prefixes it serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    isp: FleetId
    location: str = Field(min_length=1, max_length=200)
    fill_window: FillWindow = FillWindow()
    prefixes: DistinctPrefixes = Field(default_factory=list, max_length=MAX_PREFIXES_PER_SITE)


class IspSpec(BaseModel):
    """The address space an ISP is registered with: its sites may announce only inside it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allocations: DistinctPrefixes = Field(min_length=1, max_length=MAX_ALLOCATIONS_PER_ISP)


class AddressPlan(BaseModel):
    """Every ISP's registered address space, in one document so that a change to it and each
    site write are ordered by one revision (no scan-then-write race)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan_id: str = ADDRESS_PLAN_ID
    isps: dict[str, list[Prefix]] = Field(default_factory=dict)
    updated_at: datetime | None = None


class Site(SiteSpec):
    site_id: FleetId
    updated_at: datetime


class ClusterSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: FleetId


class Cluster(ClusterSpec):
    cluster_id: FleetId
    updated_at: datetime


class ApplianceSpec(BaseModel):
    """What an operator declares about an appliance before it first registers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: FleetId
    cluster_id: FleetId
    byte_budget: int = Field(ge=0, le=1 << 60, description="Bytes placement may fill.")
    addresses: list[Address] = Field(min_length=1, max_length=MAX_ADDRESSES)
    public_base_url: HttpUrl = Field(description="https://<address>:<port> clients fetch from.")
    max_connections: int = Field(default=10_000, ge=1, le=10_000_000)

    @field_validator("public_base_url")
    @classmethod
    def _bare_origin(cls, value: HttpUrl) -> HttpUrl:
        if value.path not in (None, "", "/") or value.query or value.fragment:
            raise ValueError("public_base_url is scheme://host[:port] only, with no path")
        return value


class Lifecycle(StrEnum):
    PROVISIONED = "provisioned"  # declared, never registered
    ACTIVE = "active"  # registered, holds a credential
    RETIRED = "retired"  # gone for good; credentials revoked


class BootstrapToken(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token_hash: str
    expires_at: datetime
    used_at: datetime | None = None


class Appliance(ApplianceSpec):
    appliance_id: FleetId
    lifecycle: Lifecycle = Lifecycle.PROVISIONED
    state: ApplianceState = ApplianceState.DRAINED
    state_reason: str = "not yet registered"
    state_changed_at: datetime | None = None
    bootstrap: BootstrapToken | None = None
    credential_id: str | None = None
    manifest_version: str | None = Field(
        default=None,
        description="Newest manifest written for it: the manifest job records it here, so a "
        "heartbeat's ack names it without reading S3.",
    )
    client_prefixes_version: str | None = Field(
        default=None,
        description="Version of its site's client prefixes (prefix_set_version): written with "
        "the site, so a heartbeat's ack names it without reading the site.",
    )
    created_at: datetime
    updated_at: datetime

    @property
    def base_url(self) -> str:
        return str(self.public_base_url).rstrip("/")


class Credential(BaseModel):
    """An issued appliance credential: only the secret's SHA-256 is kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credential_id: str
    appliance_id: str
    secret_sha256: str
    issued_at: datetime
    revoked_at: datetime | None = None


class BootstrapTokenIssued(BaseModel):
    """Shown once to the operator, who hands it to the appliance (e.g. Ansible vault)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    bootstrap_token: str
    expires_at: datetime


class StateChangeRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(default="operator request", min_length=1, max_length=500)
    force: bool = False
