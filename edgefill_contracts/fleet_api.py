"""Fleet API paths and the small messages of the appliance <-> control plane channel.

Every route below takes `Authorization: Appliance <credential_id>.<secret>` except
registration, which takes the one-time bootstrap token in its body.

    POST {FLEET_PREFIX}/register                              RegistrationRequest -> RegistrationResponse
    GET  {FLEET_PREFIX}/appliances/{id}/manifest              -> ManifestLocation (ETag; If-None-Match -> 304)
    POST {FLEET_PREFIX}/appliances/{id}/origin-urls           OriginUrlRequest -> OriginUrls
    POST {FLEET_PREFIX}/appliances/{id}/heartbeat             Heartbeat -> HeartbeatAck
    GET  {FLEET_PREFIX}/appliances/{id}/signing-secrets       -> SigningSecretSet
    POST {FLEET_PREFIX}/appliances/{id}/certificate           CertificateRequest -> CertificateResponse
    POST {FLEET_PREFIX}/appliances/{id}/served                ServedReport -> ServedAck (served.py)
"""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from edgefill_contracts.heartbeat import ApplianceState
from edgefill_contracts.manifest import MANIFEST_VERSION_PATTERN, SHA256_PATTERN
from edgefill_contracts.object_key import ObjectKey
from edgefill_contracts.prefixes import NetworkPrefix, prefix_set_version

# A Lambda answer is at most 6 MB; 1,000 presigned URLs with a session token are ~1.6 MB.
MAX_ORIGIN_URLS_PER_REQUEST = 1_000
# The compressed manifest of a whole catalog is ~15 MB (bench `manifest`); refuse far beyond.
MAX_MANIFEST_DOWNLOAD_BYTES = 64 * 1024 * 1024

FLEET_PREFIX = "/fleet/v1"


def register_path() -> str:
    return f"{FLEET_PREFIX}/register"


def appliance_path(appliance_id: str, leaf: str) -> str:
    """`/fleet/v1/appliances/<id>/<leaf>` for leaf in manifest, heartbeat, signing-secrets, ..."""
    return f"{FLEET_PREFIX}/appliances/{appliance_id}/{leaf}"


class HeartbeatAck(BaseModel):
    """The control plane's answer to a heartbeat: what it wants the appliance to do next."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    desired_state: ApplianceState
    state_changed_at: datetime | None = Field(
        default=None,
        description="When the control plane last changed the appliance's state (its clock); "
        "the appliance echoes it as the heartbeat's `state_basis`.",
    )
    manifest_version: str | None = Field(
        default=None, description="Newest manifest version written for this appliance."
    )
    signing_secret_ids: list[str] = Field(
        default_factory=list, description="Ids the appliance should accept; fetch any it lacks."
    )
    client_prefixes_version: str | None = Field(
        default=None,
        pattern=r"^p[0-9a-f]{24}$",
        description="Version of its site's client prefixes (prefix_set_version); an appliance "
        "that serves on-net only fetches them (GET .../client-prefixes) when it differs.",
    )


MAX_CLIENT_PREFIXES = 10_000  # a site's limit (the fleet registry's)


class ClientPrefixes(BaseModel):
    """The client prefixes of an appliance's site: with on-net only, the addresses it serves
    playback to (everything else gets 403)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str = Field(min_length=1, max_length=64)
    version: str = Field(pattern=r"^p[0-9a-f]{24}$")
    prefixes: tuple[NetworkPrefix, ...] = Field(max_length=MAX_CLIENT_PREFIXES)

    @model_validator(mode="after")
    def _version_matches(self) -> ClientPrefixes:
        if self.version != prefix_set_version(self.prefixes):
            raise ValueError(
                f"version {self.version} is not the version of these {len(self.prefixes)} "
                "prefixes: the set was cut or altered on the way"
            )
        return self


class SigningSecret(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    secret_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    secret: SecretStr
    not_after: datetime | None = Field(default=None, description="Stop accepting after this.")


class SigningSecretSet(BaseModel):
    """Secrets an appliance accepts in URLs: the current one and, during a rotation, the previous."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secrets: list[SigningSecret] = Field(min_length=1, max_length=4)


class CertificateRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    csr_pem: str = Field(min_length=64, max_length=16_384)


class CertificateResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    certificate_pem: str
    chain_pem: str
    not_after: datetime


class ManifestLocation(BaseModel):
    """Where the appliance's newest manifest is: a short-lived URL of its gzip'd body in S3
    (edgefill_contracts.manifest), never the body itself, and what the download must match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(pattern=MANIFEST_VERSION_PATTERN)
    url: AnyHttpUrl
    size: int = Field(ge=1, le=MAX_MANIFEST_DOWNLOAD_BYTES)
    sha256: str = Field(pattern=SHA256_PATTERN, description="Of the gzip'd body as stored.")
    expires_at: datetime


class OriginUrlRequest(BaseModel):
    """Keys a fill is about to fetch from the origin, in the order it will fetch them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: list[ObjectKey] = Field(min_length=1, max_length=MAX_ORIGIN_URLS_PER_REQUEST)

    @field_validator("keys")
    @classmethod
    def _distinct(cls, keys: list[str]) -> list[str]:
        if len(set(keys)) != len(keys):
            raise ValueError("keys must be distinct")
        return keys


class OriginUrls(BaseModel):
    """A short-lived origin URL per requested key, each valid until `expires_at`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    expires_at: datetime
    urls: dict[ObjectKey, AnyHttpUrl] = Field(max_length=MAX_ORIGIN_URLS_PER_REQUEST)
