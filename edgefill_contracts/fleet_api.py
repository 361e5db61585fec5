"""Fleet API paths and the small messages of the appliance <-> control plane channel.

Every route below takes `Authorization: Appliance <credential_id>.<secret>` except
registration, which takes the one-time bootstrap token in its body.

    POST {FLEET_PREFIX}/register                              RegistrationRequest -> RegistrationResponse
    GET  {FLEET_PREFIX}/appliances/{id}/manifest              -> Manifest (ETag; If-None-Match -> 304)
    POST {FLEET_PREFIX}/appliances/{id}/heartbeat             Heartbeat -> HeartbeatAck
    GET  {FLEET_PREFIX}/appliances/{id}/signing-secrets       -> SigningSecretSet
    POST {FLEET_PREFIX}/appliances/{id}/certificate           CertificateRequest -> CertificateResponse
    POST {FLEET_PREFIX}/appliances/{id}/served                ServedReport -> ServedAck (served.py)
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from edgefill_contracts.heartbeat import ApplianceState

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
