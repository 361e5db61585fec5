"""Checking Cognito access tokens in the app: signature (pool JWKS), issuer, client, expiry, use,
and that the session was not logged out.

API Gateway's JWT authorizer checks the same claims in front of the Lambda; the app checks
again so that a misrouted or local request is never trusted, and because only the app knows
about logged-out sessions. Every failure is the same 401 to the caller; the reason is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

import httpx
import jwt
from pydantic import BaseModel, ConfigDict

from control_plane.common.errors import Unauthorized, Unavailable
from control_plane.common.settings import ServiceSettings

logger = logging.getLogger(__name__)

JWKS_TIMEOUT_S = 3.0
JWKS_REFETCH_INTERVAL_S = 60.0
_REJECTED = "the access token is missing, expired or invalid; log in again"


class Subscriber(BaseModel):
    """The caller a verified access token names."""

    model_config = ConfigDict(frozen=True)

    account_id: str  # Cognito `sub`
    session_id: str  # `origin_jti`: shared by every token of one log-in
    expires_at: int
    access_token: str


def issuer_for(settings: ServiceSettings) -> str:
    return f"https://cognito-idp.{settings.aws_region}.amazonaws.com/{settings.user_pool_id}"


def jwks_url_for(settings: ServiceSettings) -> str:
    """Where the pool publishes its keys: under the issuer in AWS, on the moto server locally."""
    if settings.aws_endpoint_url:
        return (
            f"{settings.aws_endpoint_url.rstrip('/')}/{settings.user_pool_id}/.well-known/jwks.json"
        )
    return f"{issuer_for(settings)}/.well-known/jwks.json"


class SigningKeys(Protocol):
    def key(self, kid: str) -> jwt.PyJWK | None: ...


class JwksCache:
    """The pool's signing keys by key id; an unknown id refetches at most once a minute."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK | None:
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            stale = (
                self._fetched_at is None
                or self._clock() - self._fetched_at >= JWKS_REFETCH_INTERVAL_S
            )
            if kid not in self._keys and stale:
                self._keys = self._fetch()
                self._fetched_at = self._clock()
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        try:
            response = httpx.get(self._url, timeout=JWKS_TIMEOUT_S)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            logger.error("could not load the user pool's JWKS from %s: %s", self._url, exc)
            raise Unavailable("sign-in keys are unavailable just now; retry shortly") from exc
        return {key.key_id: key for key in keys if key.key_id}


class TokenVerifier:
    """Verifies Cognito access tokens of one pool and app client."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        keys: SigningKeys,
        is_revoked: Callable[[str], bool],
        leeway_s: int = 5,
    ) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._keys = keys
        self._is_revoked = is_revoked
        self._leeway_s = leeway_s

    def verify(self, token: str) -> Subscriber:
        """The subscriber `token` names, or Unauthorized (the reason goes to the log only)."""
        claims = self._claims(token)
        session_id = str(claims.get("origin_jti", ""))
        if not session_id:
            self._reject("token has no origin_jti")
        if self._is_revoked(session_id):
            self._reject("session was logged out")
        return Subscriber(
            account_id=str(claims["sub"]),
            session_id=session_id,
            expires_at=int(claims["exp"]),
            access_token=token,
        )

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            self._reject("token is not a JWT")
        if header.get("alg") != "RS256":
            self._reject(f"algorithm {header.get('alg')!r} is not RS256")
        key = self._keys.key(str(header.get("kid", "")))
        if key is None:
            self._reject("key id is not in the pool's JWKS")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "iss", "sub", "token_use", "client_id"]},
            )
        except jwt.PyJWTError as exc:
            self._reject(f"{type(exc).__name__}: {exc}")
        if claims["token_use"] != "access":
            self._reject(f"token_use is {claims['token_use']!r}, not 'access'")
        if claims["client_id"] != self._client_id:
            self._reject("token was issued to another app client")
        return claims

    @staticmethod
    def _reject(reason: str) -> NoReturn:
        logger.info("rejected an access token: %s", reason)
        raise Unauthorized(_REJECTED)


def verifier_for(settings: ServiceSettings, *, is_revoked: Callable[[str], bool]) -> TokenVerifier:
    """The verifier of the stack's pool and client; keys load on the first request, not here."""
    return TokenVerifier(
        issuer=issuer_for(settings),
        client_id=settings.user_pool_client_id,
        keys=JwksCache(jwks_url_for(settings)),
        is_revoked=is_revoked,
    )
