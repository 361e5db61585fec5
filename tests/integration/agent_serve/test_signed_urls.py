"""Signed URLs against a real nginx: only a valid, unexpired token for that rendition (or, on a
fill path, that title) opens a file, and an expiry past the edge's ceiling is refused."""

from __future__ import annotations

import http.client
import os
import time
from urllib.parse import urlsplit

import httpx
import pytest

from edgefill_contracts.signing import parse_signed_path
from tests.integration.agent_serve.appliance_nginx import (
    SECRET,
    RunningAppliance,
    put_object,
    store_secrets,
)

pytestmark = pytest.mark.nginx

KEY = "title-1/720p/seg_0001.ts"


def test_valid_token_serves_the_object(appliance: RunningAppliance) -> None:
    data = os.urandom(300_000)
    put_object(appliance.settings, KEY, data)
    response = httpx.get(appliance.url(KEY), timeout=5)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "video/mp2t"


def _tampered(url: str) -> str:
    path = url.split("://", 1)[1].split("/", 1)[1]
    parts = parse_signed_path("/" + path)
    flipped = ("A" if parts.token[0] != "A" else "B") + parts.token[1:]
    return url.replace(parts.token, flipped)


def _edited_expiry(url: str) -> str:
    expires = parse_signed_path("/" + url.split("://", 1)[1].split("/", 1)[1]).expires
    return url.replace(f"/{expires}/", f"/{expires + 1}/")


@pytest.mark.parametrize(
    "make_url",
    [
        pytest.param(lambda a: a.url(KEY, expires=int(time.time()) - 5), id="expired"),
        pytest.param(lambda a: _tampered(a.url(KEY)), id="tampered-token"),
        pytest.param(lambda a: a.url(KEY, secret="not-the-secret-000000"), id="wrong-secret"),
        pytest.param(lambda a: a.url(KEY, secret_id="unknown"), id="unknown-secret-id"),
        pytest.param(lambda a: _edited_expiry(a.url(KEY)), id="edited-expiry"),
        pytest.param(
            lambda a: a.url("title-2/720p/x.ts").replace("/title-2/", "/title-1/"), id="other-title"
        ),
        pytest.param(
            # A plan that stops at 360p edits its URL to 720p: the token is the 360p rendition's.
            lambda a: a.url("title-1/360p/seg_0001.ts").replace("/360p/", "/720p/"),
            id="other-rendition",
        ),
        pytest.param(
            lambda a: a.url(KEY, expires=int(time.time()) + 9 * 3600), id="expiry-past-ceiling"
        ),
        pytest.param(
            # A fill token (the whole title's) does not open a playback path.
            lambda a: a.fill_url(KEY).replace("/f/", "/t/", 1),
            id="fill-token-on-playback-path",
        ),
        pytest.param(
            lambda a: a.fill_url(KEY, expires=int(time.time()) + 4 * 24 * 3600),
            id="fill-expiry-past-ceiling",
        ),
        pytest.param(lambda a: a.base_url + "/title-1/720p/seg_0001.ts", id="unsigned-path"),
    ],
)
def test_bad_tokens_get_403(appliance: RunningAppliance, make_url: object) -> None:
    put_object(appliance.settings, KEY, b"x" * 1000)
    url = make_url(appliance)  # type: ignore[operator]
    expected = 404 if "/t/" not in url and "/f/" not in url else 403
    assert httpx.get(url, timeout=5).status_code == expected


def test_signature_is_checked_before_the_file_is_looked_up(appliance: RunningAppliance) -> None:
    # The object does not exist: a bad token must still give 403, not 404, so no lookup happened.
    missing = "title-1/720p/not-there.ts"
    assert httpx.get(appliance.url(missing), timeout=5).status_code == 404
    assert httpx.get(_tampered(appliance.url(missing)), timeout=5).status_code == 403


def test_playback_token_covers_the_renditions_directory(appliance: RunningAppliance) -> None:
    put_object(appliance.settings, "title-1/720p/index.m3u8", b"#EXTM3U\nseg_0001.ts\n")
    put_object(appliance.settings, KEY, b"segment")
    playlist = appliance.url("title-1/720p/index.m3u8")
    segment = httpx.URL(playlist).join("seg_0001.ts")  # what a player does with a relative URL
    assert httpx.get(segment, timeout=5).content == b"segment"


def test_a_dot_segment_cannot_step_into_another_rendition(appliance: RunningAppliance) -> None:
    put_object(appliance.settings, "title-1/2160p/media.mp4", b"uhd")
    signed = appliance.url("title-1/360p/media.mp4")
    parts = urlsplit(signed.replace("/360p/media.mp4", "/360p/../2160p/media.mp4"))
    assert parts.scheme == "http" and parts.port is not None
    # http.client sends the path as written (an HTTP library would remove the dot segment).
    connection = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=5)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        assert response.status == 403 and response.read() != b"uhd"
    finally:
        connection.close()


def test_fill_path_serves_any_rendition_of_its_title(appliance: RunningAppliance) -> None:
    put_object(appliance.settings, "title-1/360p/media.mp4", b"low")
    put_object(appliance.settings, "title-1/2160p/media.mp4", b"uhd")
    assert httpx.get(appliance.fill_url("title-1/360p/media.mp4"), timeout=5).content == b"low"
    assert httpx.get(appliance.fill_url("title-1/2160p/media.mp4"), timeout=5).content == b"uhd"
    edited = appliance.fill_url("title-2/2160p/media.mp4").replace("/title-2/", "/title-1/")
    assert httpx.get(edited, timeout=5).status_code == 403


def test_expiry_within_the_ceiling_serves(appliance: RunningAppliance) -> None:
    put_object(appliance.settings, KEY, b"ok")
    near_ceiling = int(time.time()) + appliance.settings.playback_url_max_lifetime_s - 60
    assert httpx.get(appliance.url(KEY, expires=near_ceiling), timeout=5).content == b"ok"


def test_range_and_head(appliance: RunningAppliance) -> None:
    data = os.urandom(200_000)
    put_object(appliance.settings, KEY, data)
    url = appliance.url(KEY)
    ranged = httpx.get(url, headers={"Range": "bytes=1000-65535"}, timeout=5)
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 1000-65535/{len(data)}"
    assert ranged.content == data[1000:65536]
    suffix = httpx.get(url, headers={"Range": "bytes=-100"}, timeout=5)
    assert (suffix.status_code, suffix.content) == (206, data[-100:])
    unsatisfiable = httpx.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=5)
    assert unsatisfiable.status_code == 416
    head = httpx.head(url, timeout=5)
    assert head.status_code == 200
    assert int(head.headers["content-length"]) == len(data)
    assert head.headers["accept-ranges"] == "bytes"


def test_miss_is_a_fast_404(appliance: RunningAppliance) -> None:
    started = time.monotonic()
    response = httpx.get(appliance.url("title-9/720p/absent.ts"), timeout=5)
    assert response.status_code == 404
    assert time.monotonic() - started < 1.0


def test_rotation_accepts_current_and_previous_secret(appliance: RunningAppliance) -> None:
    put_object(appliance.settings, KEY, b"rotating")
    new_secret = "second-secret-abcdefghijklmnop"
    old_url = appliance.url(KEY)
    new_url = appliance.url(KEY, secret_id="k2", secret=new_secret)
    assert httpx.get(new_url, timeout=5).status_code == 403

    store_secrets(appliance.settings, ("k1", SECRET), ("k2", new_secret))
    appliance.install()
    assert httpx.get(old_url, timeout=5).status_code == 200
    assert httpx.get(new_url, timeout=5).status_code == 200

    store_secrets(appliance.settings, ("k2", new_secret))  # overlap over: k1 retired
    appliance.install()
    assert httpx.get(old_url, timeout=5).status_code == 403
    assert httpx.get(new_url, timeout=5).content == b"rotating"


def test_token_matches_nginx_for_many_titles(appliance: RunningAppliance) -> None:
    # The contract's signer and nginx's secure_link_md5 agree beyond one hand-picked example.
    for n in range(20):
        key = f"t{n}-x.y_z=/{n}/f.ts"
        put_object(appliance.settings, key, str(n).encode())
        assert httpx.get(appliance.url(key), timeout=5).content == str(n).encode()


def test_big_progressive_files_get_the_same_checks(appliance: RunningAppliance) -> None:
    # .mkv goes through the aio-threads location; its signature checks must be the same.
    data = os.urandom(3 * 1024 * 1024)
    put_object(appliance.settings, "title-1/full/movie.mkv", data)
    url = appliance.url("title-1/full/movie.mkv")
    ranged = httpx.get(url, headers={"Range": "bytes=65536-131071"}, timeout=5)
    assert (ranged.status_code, ranged.content) == (206, data[65536:131072])
    assert httpx.get(_tampered(url), timeout=5).status_code == 403
    assert (
        httpx.get(appliance.url("title-1/full/movie.mkv", expires=1), timeout=5).status_code == 403
    )
    assert httpx.get(appliance.url("title-1/full/absent.mkv"), timeout=5).status_code == 404
    conf = (appliance.settings.config_root / "current" / "nginx.conf").read_text()
    assert "aio threads=edgefill_io;" in conf and "mkv|mov|webm" in conf and "mp4|" not in conf
