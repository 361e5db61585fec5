"""Auth request and response bodies, and the profile model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from control_plane.auth.profile_ids import ProfileIdField
from control_plane.catalog.models import MaturityRating

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$"


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    password: SecretStr = Field(min_length=8, max_length=256)


class SignUpResponse(BaseModel):
    account_id: str
    confirmed: bool


class ConfirmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL_PATTERN, max_length=254)
    code: str = Field(pattern=r"^[0-9]{4,8}$")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: SecretStr = Field(min_length=1, max_length=8192)


class Tokens(BaseModel):
    """Send `access_token` as `Authorization: Bearer <token>`; refresh before `expires_in` s."""

    access_token: str
    id_token: str
    refresh_token: str | None = Field(description="Only on log-in; refresh keeps the old one.")
    expires_in: int
    token_type: str = "Bearer"


class ProfileCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    max_maturity: MaturityRating = MaturityRating.NC_17
    region: str = Field(
        default="US", pattern=r"^[A-Z]{2}$", description="ISO country code for regional picks."
    )


class Profile(ProfileCreate):
    profile_id: ProfileIdField
    account_id: str
