"""Token checks in the app: every way a token can be wrong gives the same 401."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from control_plane.auth.tokens import JwksCache, TokenVerifier
from control_plane.common.errors import Unauthorized, Unavailable

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
CLIENT = "client-abc"
POOL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class StaticKeys:
    def __init__(self) -> None:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(POOL_KEY.public_key(), as_dict=True)
        self._keys = {"pool-kid": jwt.PyJWK({**public, "kid": "pool-kid", "alg": "RS256"})}

    def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


def claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "account-1",
        "client_id": CLIENT,
        "token_use": "access",
        "iat": now,
        "exp": now + 3600,
        "origin_jti": "session-1",
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


def token(payload: dict[str, Any], *, key: Any = POOL_KEY, kid: str = "pool-kid") -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def verifier(revoked: frozenset[str] = frozenset()) -> TokenVerifier:
    return TokenVerifier(
        issuer=ISSUER, client_id=CLIENT, keys=StaticKeys(), is_revoked=revoked.__contains__
    )


def test_a_good_token_names_its_subscriber() -> None:
    subscriber = verifier().verify(token(claims()))
    assert (subscriber.account_id, subscriber.session_id) == ("account-1", "session-1")


@pytest.mark.parametrize(
    "bad_token",
    [
        pytest.param(token(claims(exp=int(time.time()) - 60)), id="expired"),
        pytest.param(token(claims(), key=OTHER_KEY), id="forged-signature"),
        pytest.param(token(claims(), kid="unknown-kid"), id="unknown-key"),
        pytest.param(token(claims(iss="https://evil.example/pool")), id="wrong-issuer"),
        pytest.param(token(claims(client_id="other-client")), id="other-client"),
        pytest.param(token(claims(token_use="id")), id="id-token"),
        pytest.param(token(claims(origin_jti=None)), id="no-session"),
        pytest.param(token(claims(exp=None)), id="no-expiry"),
        pytest.param(
            jwt.encode(claims(), "shared-secret-of-32-bytes-length!", algorithm="HS256"),
            id="hs256-confusion",
        ),
        pytest.param(jwt.encode(claims(), "", algorithm="none"), id="alg-none"),
        pytest.param("not-a-jwt", id="garbage"),
    ],
)
def test_bad_tokens_get_one_undetailed_401(bad_token: str) -> None:
    with pytest.raises(Unauthorized) as raised:
        verifier().verify(bad_token)
    assert raised.value.message == "the access token is missing, expired or invalid; log in again"


def test_a_logged_out_session_is_refused() -> None:
    with pytest.raises(Unauthorized):
        verifier(revoked=frozenset({"session-1"})).verify(token(claims()))


def test_unreachable_jwks_is_503_not_401() -> None:
    keys = JwksCache("http://127.0.0.1:9/pool/.well-known/jwks.json")
    with pytest.raises(Unavailable, match="retry shortly"):
        keys.key("pool-kid")


def test_unknown_kids_refetch_at_most_once_a_minute() -> None:
    now = [1000.0]
    keys = JwksCache("http://127.0.0.1:9/x", clock=lambda: now[0])
    fetches: list[float] = []

    def fetch() -> dict[str, jwt.PyJWK]:
        fetches.append(now[0])
        return {}

    keys._fetch = fetch  # type: ignore[method-assign]
    for _ in range(5):
        assert keys.key("forged-kid") is None
    now[0] += 61
    keys.key("forged-kid")
    assert fetches == [1000.0, 1061.0]
