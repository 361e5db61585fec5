"""Subscriber helpers for tests: a confirmed Cognito user and its tokens, straight from the pool."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import boto3

from control_plane.common.settings import ServiceSettings

PASSWORD = "Correct-Horse-9-battery"


@dataclass(frozen=True)
class SignedIn:
    email: str
    account_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def signed_in_user(settings: ServiceSettings, *, email: str | None = None) -> SignedIn:
    """Sign up, confirm and log in a fresh user of the stack's pool."""
    email = email or f"viewer-{uuid.uuid4().hex[:10]}@example.com"
    cognito = boto3.client(
        "cognito-idp", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    client_id = settings.user_pool_client_id
    account_id = cognito.sign_up(ClientId=client_id, Username=email, Password=PASSWORD)["UserSub"]
    cognito.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode="123456")
    tokens = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    return SignedIn(
        email=email,
        account_id=account_id,
        access_token=tokens["AccessToken"],
        refresh_token=tokens["RefreshToken"],
    )
