"""The user pool, through boto3's cognito-idp: every Cognito error becomes one of ours here."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from control_plane.auth.models import Credentials, SignUpResponse, Tokens
from control_plane.common.aws import cognito_idp
from control_plane.common.errors import (
    BadRequest,
    Conflict,
    ControlPlaneError,
    Forbidden,
    Unauthorized,
    Unavailable,
)
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp.client import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import AuthenticationResultTypeTypeDef

logger = logging.getLogger(__name__)

_WRONG_LOGIN = Unauthorized("email or password is wrong")
_STALE_REFRESH = Unauthorized("the refresh token is invalid or was revoked; log in again")
# Cognito error code -> what the caller sees. Codes not listed are outages (503).
_ERRORS: dict[str, ControlPlaneError] = {
    "UsernameExistsException": Conflict("an account with this email exists; log in instead"),
    "InvalidPasswordException": BadRequest(
        "the password is too weak: use 8+ characters with upper and lower case, a digit "
        "and a symbol"
    ),
    "InvalidParameterException": BadRequest("the request was refused; check the email address"),
    "CodeMismatchException": BadRequest("the confirmation code is wrong; check the email"),
    "ExpiredCodeException": BadRequest("the confirmation code expired; request a new one"),
    "UserNotConfirmedException": Forbidden("confirm your email address before logging in"),
    "PasswordResetRequiredException": Forbidden("reset your password before logging in"),
    "TooManyRequestsException": Unavailable("too many attempts; wait a minute and retry"),
    "LimitExceededException": Unavailable("too many attempts; wait a minute and retry"),
}


class UserPool:
    def __init__(self, client: CognitoIdentityProviderClient, *, client_id: str) -> None:
        self._client = client
        self._client_id = client_id

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> UserPool:
        return cls(cognito_idp(settings), client_id=settings.user_pool_client_id)

    def sign_up(self, credentials: Credentials) -> SignUpResponse:
        with _cognito_errors(not_authorized=BadRequest("sign-up is not allowed for this client")):
            result = self._client.sign_up(
                ClientId=self._client_id,
                Username=credentials.email,
                Password=credentials.password.get_secret_value(),
                UserAttributes=[{"Name": "email", "Value": credentials.email}],
            )
        return SignUpResponse(account_id=result["UserSub"], confirmed=result["UserConfirmed"])

    def confirm(self, *, email: str, code: str) -> None:
        # A wrong email gets the same answer as a wrong code: no account enumeration here.
        with _cognito_errors(
            not_authorized=Conflict("this account is already confirmed; log in"),
            not_found=BadRequest("the confirmation code is wrong; check the email"),
        ):
            self._client.confirm_sign_up(
                ClientId=self._client_id, Username=email, ConfirmationCode=code
            )

    def log_in(self, credentials: Credentials) -> Tokens:
        with _cognito_errors(not_authorized=_WRONG_LOGIN, not_found=_WRONG_LOGIN):
            result = self._client.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={
                    "USERNAME": credentials.email,
                    "PASSWORD": credentials.password.get_secret_value(),
                },
            )
        return _tokens(result.get("AuthenticationResult"), refresh=True)

    def refresh(self, refresh_token: str) -> Tokens:
        with _cognito_errors(not_authorized=_STALE_REFRESH, not_found=_STALE_REFRESH):
            result = self._client.initiate_auth(
                ClientId=self._client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        return _tokens(result.get("AuthenticationResult"), refresh=False)

    def sign_out_everywhere(self, access_token: str) -> None:
        """Invalidate every refresh token of the user (Cognito GlobalSignOut)."""
        with _cognito_errors(
            not_authorized=Unauthorized("the session already ended; log in again")
        ):
            self._client.global_sign_out(AccessToken=access_token)


def _tokens(result: AuthenticationResultTypeTypeDef | None, *, refresh: bool) -> Tokens:
    if result is None or "AccessToken" not in result:
        # A challenge (MFA, new password) the pool is not configured for: a setup error.
        raise Unavailable(
            "the user pool asked for a sign-in challenge this service does not support"
        )
    return Tokens(
        access_token=result["AccessToken"],
        id_token=result["IdToken"],
        refresh_token=result.get("RefreshToken") if refresh else None,
        expires_in=result["ExpiresIn"],
    )


@contextmanager
def _cognito_errors(
    *, not_authorized: ControlPlaneError, not_found: ControlPlaneError | None = None
) -> Iterator[None]:
    """Map Cognito's error codes to ours; NotAuthorized and UserNotFound depend on the call."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        known = _ERRORS.get(code)
        if code == "NotAuthorizedException":
            known = not_authorized
        elif code == "UserNotFoundException":
            known = not_found
        if known is not None:
            raise type(known)(known.message) from exc
        logger.error("cognito-idp failed with %s: %s", code, exc)
        raise Unavailable("sign-in is unavailable just now; retry shortly") from exc
    except BotoCoreError as exc:
        logger.error("cognito-idp unreachable: %s", exc)
        raise Unavailable("sign-in is unavailable just now; retry shortly") from exc
