"""Every Cognito error code the user pool can return becomes the right status (stubbed client:
moto never returns most of these, e.g. it accepts any confirmation code)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from control_plane.auth.cognito import UserPool
from control_plane.auth.models import Credentials
from control_plane.common.errors import ControlPlaneError

CREDENTIALS = Credentials(email="ada@example.com", password=SecretStr("Correct-Horse-9"))


@pytest.fixture
def stubbed() -> Iterator[tuple[UserPool, Stubber]]:
    client = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield UserPool(client, client_id="client-1"), stubber


@pytest.mark.parametrize(
    ("operation", "code", "status", "message_part"),
    [
        ("confirm_sign_up", "CodeMismatchException", 400, "code is wrong"),
        ("confirm_sign_up", "ExpiredCodeException", 400, "expired"),
        ("confirm_sign_up", "UserNotFoundException", 400, "code is wrong"),  # no enumeration
        ("confirm_sign_up", "NotAuthorizedException", 409, "already confirmed"),
        ("sign_up", "InvalidPasswordException", 400, "too weak"),
        ("sign_up", "UsernameExistsException", 409, "log in instead"),
        ("sign_up", "InvalidParameterException", 400, "check the email"),
        ("initiate_auth", "UserNotConfirmedException", 403, "confirm your email"),
        ("initiate_auth", "PasswordResetRequiredException", 403, "reset your password"),
        ("initiate_auth", "NotAuthorizedException", 401, "email or password is wrong"),
        ("initiate_auth", "UserNotFoundException", 401, "email or password is wrong"),
        ("initiate_auth", "TooManyRequestsException", 503, "wait a minute"),
        ("initiate_auth", "InternalErrorException", 503, "retry shortly"),
    ],
)
def test_cognito_errors_map_to_statuses(
    stubbed: tuple[UserPool, Stubber], operation: str, code: str, status: int, message_part: str
) -> None:
    pool, stubber = stubbed
    stubber.add_client_error(operation, service_error_code=code, service_message="raw cognito text")
    call = {
        "confirm_sign_up": lambda: pool.confirm(email=CREDENTIALS.email, code="123456"),
        "sign_up": lambda: pool.sign_up(CREDENTIALS),
        "initiate_auth": lambda: pool.log_in(CREDENTIALS),
    }[operation]
    with pytest.raises(ControlPlaneError) as raised:
        call()
    assert raised.value.status_code == status
    assert message_part in raised.value.message
    assert "raw cognito text" not in raised.value.message


def test_an_unsupported_sign_in_challenge_is_503(stubbed: tuple[UserPool, Stubber]) -> None:
    pool, stubber = stubbed
    stubber.add_response("initiate_auth", {"ChallengeName": "SMS_MFA", "Session": "s" * 20})
    with pytest.raises(ControlPlaneError) as raised:
        pool.log_in(CREDENTIALS)
    assert raised.value.status_code == 503
    assert "challenge" in raised.value.message
