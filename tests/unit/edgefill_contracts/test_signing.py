"""Signed paths: the token is what nginx's secure_link_md5 computes; playback covers one
rendition, fill one title."""

from __future__ import annotations

import base64
import hashlib

import pytest

from edgefill_contracts import ContractError, parse_signed_path, sign_path
from edgefill_contracts.signing import (
    SignedKind,
    compute_token,
    rendition_base_path,
    sign_fill_path,
)


def test_token_is_nginx_secure_link_md5_form() -> None:
    # nginx: secure_link_md5 "$expires/$scope $secret" -> base64url(md5), no padding.
    raw = hashlib.md5(b"1800000000/title-7/720p s3cret", usedforsecurity=False).digest()
    expected = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert compute_token(secret="s3cret", scope="title-7/720p", expires=1_800_000_000) == expected


def test_playback_path_parses_back() -> None:
    path = sign_path(
        secret_id="k1", secret="s3cret", key="title-7/720p/media.mp4", expires=1_800_000_000
    )
    parts = parse_signed_path(path)
    assert path.startswith("/t/k1/")
    assert (parts.kind, parts.secret_id, parts.title, parts.rest, parts.expires) == (
        SignedKind.PLAYBACK,
        "k1",
        "title-7",
        "720p/media.mp4",
        1_800_000_000,
    )
    assert parts.scope == "title-7/720p"
    assert parts.token == compute_token(
        secret="s3cret", scope="title-7/720p", expires=1_800_000_000
    )


def test_playback_token_covers_one_rendition_and_nothing_else() -> None:
    def token(key: str) -> str:
        return parse_signed_path(sign_path(secret_id="k", secret="s", key=key, expires=10**9)).token

    assert token("t1/720p/index.m3u8") == token("t1/720p/media.mp4")
    assert token("t1/720p/media.mp4") != token("t1/2160p/media.mp4")
    assert token("t1/720p/media.mp4") != token("t2/720p/media.mp4")
    base = rendition_base_path(
        secret_id="k", secret="s", title="t1", rendition="720p", expires=10**9
    )
    assert base.endswith("/t1/720p/") and token("t1/720p/x") in base


def test_fill_path_covers_the_title_under_its_own_prefix() -> None:
    a = parse_signed_path(sign_fill_path(secret_id="k", secret="s", key="t1/a/1", expires=10**9))
    b = parse_signed_path(sign_fill_path(secret_id="k", secret="s", key="t1/b/9", expires=10**9))
    assert a.kind is SignedKind.FILL and a.scope == "t1"
    assert a.token == b.token
    # The fill token of a title is not the playback token of any of its renditions.
    playback = parse_signed_path(sign_path(secret_id="k", secret="s", key="t1/a/1", expires=10**9))
    assert playback.token != a.token


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret_id": "bad id", "secret": "s", "key": "t/a/b", "expires": 1}, "secret id"),
        ({"secret_id": "k", "secret": "", "key": "t/a/b", "expires": 1}, "empty secret"),
        ({"secret_id": "k", "secret": "s", "key": "t/a/b", "expires": 0}, "unix time"),
        ({"secret_id": "k", "secret": "s", "key": "../a/b", "expires": 1}, "'..'"),
        ({"secret_id": "k", "secret": "s", "key": "t/a", "expires": 1}, "<rendition>/<file>"),
    ],
)
def test_sign_path_refuses_bad_input(kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        sign_path(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [
        "/title-7/720p/seg_1.ts",
        "/t/k1/AAAAAAAAAAAAAAAAAAAAAA/1800000000/title-7/media.mp4",  # no rendition directory
        "/x/k1/AAAAAAAAAAAAAAAAAAAAAA/1800000000/title-7/720p/media.mp4",
    ],
)
def test_parse_refuses_what_nginx_would_not_match(path: str) -> None:
    with pytest.raises(ContractError):
        parse_signed_path(path)
