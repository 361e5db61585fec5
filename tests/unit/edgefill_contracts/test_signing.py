"""Signed paths: the token is what nginx's secure_link_md5 computes, and covers one title."""

from __future__ import annotations

import base64
import hashlib

import pytest

from edgefill_contracts import ContractError, parse_signed_path, sign_path
from edgefill_contracts.signing import compute_token, title_base_path


def test_token_is_nginx_secure_link_md5_form() -> None:
    # nginx: secure_link_md5 "$expires/$title $secret" -> base64url(md5), no padding.
    raw = hashlib.md5(b"1800000000/title-7 s3cret", usedforsecurity=False).digest()
    expected = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert compute_token(secret="s3cret", title="title-7", expires=1_800_000_000) == expected


def test_signed_path_parses_back() -> None:
    path = sign_path(
        secret_id="k1", secret="s3cret", key="title-7/720p/seg_1.ts", expires=1_800_000_000
    )
    parts = parse_signed_path(path)
    assert (parts.secret_id, parts.title, parts.rest, parts.expires) == (
        "k1",
        "title-7",
        "720p/seg_1.ts",
        1_800_000_000,
    )


def test_token_covers_the_title_directory_and_no_other_title() -> None:
    a = parse_signed_path(sign_path(secret_id="k", secret="s", key="t1/a/1.ts", expires=10**9))
    b = parse_signed_path(sign_path(secret_id="k", secret="s", key="t1/b/9.ts", expires=10**9))
    c = parse_signed_path(sign_path(secret_id="k", secret="s", key="t2/a/1.ts", expires=10**9))
    assert a.token == b.token
    assert a.token != c.token
    base = title_base_path(secret_id="k", secret="s", title="t1", expires=10**9)
    assert base.endswith("/t1/") and a.token in base


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret_id": "bad id", "secret": "s", "key": "t/a", "expires": 1}, "secret id"),
        ({"secret_id": "k", "secret": "", "key": "t/a", "expires": 1}, "empty secret"),
        ({"secret_id": "k", "secret": "s", "key": "t/a", "expires": 0}, "unix time"),
        ({"secret_id": "k", "secret": "s", "key": "../a", "expires": 1}, "'..'"),
    ],
)
def test_sign_path_refuses_bad_input(kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        sign_path(**kwargs)  # type: ignore[arg-type]


def test_parse_refuses_unsigned_path() -> None:
    with pytest.raises(ContractError):
        parse_signed_path("/title-7/720p/seg_1.ts")
