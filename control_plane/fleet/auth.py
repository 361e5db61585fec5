"""Credentials: operator bearer tokens, one-time bootstrap tokens and appliance credentials.

Appliance secrets and bootstrap tokens are 256-bit random values, so a single SHA-256 is enough
to store them (no password stretching needed: there is nothing to guess); comparisons are
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr

from control_plane.common.errors import Unauthorized
from control_plane.fleet.models import Credential
from edgefill_contracts.identity import CREDENTIAL_SCHEME, ApplianceCredential

_BEARER = "Bearer"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def matches(value: str, expected_sha256: str) -> bool:
    return hmac.compare_digest(sha256_hex(value), expected_sha256)


def new_bootstrap_token() -> str:
    return secrets.token_urlsafe(32)


def issue_credential(*, appliance_id: str, now: datetime) -> tuple[Credential, ApplianceCredential]:
    """A fresh credential: the record to store (hash only) and the secret to hand out once."""
    credential_id = "c" + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    record = Credential(
        credential_id=credential_id,
        appliance_id=appliance_id,
        secret_sha256=sha256_hex(secret),
        issued_at=now,
    )
    issued = ApplianceCredential(
        appliance_id=appliance_id, credential_id=credential_id, secret=SecretStr(secret)
    )
    return record, issued


@dataclass(frozen=True)
class PresentedCredential:
    credential_id: str
    secret: SecretStr


def parse_appliance_authorization(header: str | None) -> PresentedCredential:
    """Split `Appliance <credential_id>.<secret>`; Unauthorized with the expected form if not."""
    scheme, _, value = (header or "").partition(" ")
    credential_id, dot, secret = value.strip().partition(".")
    if scheme != CREDENTIAL_SCHEME or not dot or not credential_id or not secret:
        raise Unauthorized(
            "fleet routes need 'Authorization: Appliance <credential_id>.<secret>' "
            "with the credential issued at registration"
        )
    return PresentedCredential(credential_id=credential_id, secret=SecretStr(secret))


def check_admin(header: str | None, *, admin_token: SecretStr) -> None:
    """Accept only `Authorization: Bearer <admin token>`; an unset token refuses everyone."""
    expected = admin_token.get_secret_value()
    scheme, _, token = (header or "").partition(" ")
    if not expected or scheme != _BEARER or not hmac.compare_digest(token.strip(), expected):
        raise Unauthorized("admin routes need 'Authorization: Bearer <operator token>'")
