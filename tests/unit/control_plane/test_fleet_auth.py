"""Parsing and checking credentials: appliance Authorization headers and the operator token."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from control_plane.common.errors import Unauthorized
from control_plane.fleet.auth import (
    check_admin,
    issue_credential,
    matches,
    parse_appliance_authorization,
)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Appliance",
        "Appliance c1",
        "Appliance c1.",
        "Appliance .secret",
        "Bearer c1.s",
        "appliance c1.s",
    ],
)
def test_malformed_appliance_headers_are_401_with_the_expected_form(header: str | None) -> None:
    with pytest.raises(Unauthorized, match=r"Appliance <credential_id>\.<secret>"):
        parse_appliance_authorization(header)


def test_the_secret_may_contain_dots() -> None:
    presented = parse_appliance_authorization("Appliance c1.a.b.c")
    assert presented.credential_id == "c1"
    assert presented.secret.get_secret_value() == "a.b.c"


def test_issued_credentials_store_only_a_hash() -> None:
    record, issued = issue_credential(appliance_id="a1", now=datetime(2026, 1, 1, tzinfo=UTC))
    secret = issued.secret.get_secret_value()
    assert secret not in record.model_dump_json()
    assert matches(secret, record.secret_sha256)
    assert not matches(secret + "x", record.secret_sha256)
    assert issued.authorization_header() == f"Appliance {record.credential_id}.{secret}"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, "operator-token-0123456789"),
        ("Bearer wrong", "operator-token-0123456789"),
        ("Basic operator-token-0123456789", "operator-token-0123456789"),
        ("Bearer ", ""),  # an unset token refuses everyone, even an empty bearer
    ],
)
def test_admin_check_refuses(header: str | None, token: str) -> None:
    with pytest.raises(Unauthorized):
        check_admin(header, admin_token=SecretStr(token))


def test_admin_check_accepts_the_token() -> None:
    check_admin(
        "Bearer operator-token-0123456789", admin_token=SecretStr("operator-token-0123456789")
    )
