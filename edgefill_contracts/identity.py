"""Appliance identity: the one-time bootstrap exchange and the credential it yields."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# The fleet registry's ids (sites, clusters, appliances); an agent refuses any other at start.
FLEET_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

CREDENTIAL_HEADER = "Authorization"
CREDENTIAL_SCHEME = "Appliance"


class RegistrationRequest(BaseModel):
    """Sent once by a new appliance: its id and the bootstrap token an operator issued for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str = Field(min_length=1, max_length=128)
    bootstrap_token: SecretStr
    agent_version: str = Field(min_length=1, max_length=64)


class ApplianceCredential(BaseModel):
    """The appliance's own secret; the control plane stores only its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str = Field(min_length=1, max_length=128)
    credential_id: str = Field(min_length=1, max_length=64)
    secret: SecretStr

    def authorization_header(self) -> str:
        """`Appliance <id>.<secret>`: the value of the Authorization header on fleet routes."""
        return f"{CREDENTIAL_SCHEME} {self.credential_id}.{self.secret.get_secret_value()}"


class RegistrationResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    credential: ApplianceCredential
    issued_at: datetime
