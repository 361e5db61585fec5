"""Per-session HLS and DASH manifests, the Content Steering server and the origin pathway,
against moto: what a standard player fetches, and what a tampered or stale request gets."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from control_plane.catalog.models import Title
from control_plane.common.aws import s3
from control_plane.common.settings import ServiceSettings
from control_plane.playback.app import create_app
from control_plane.playback.session import PlaybackSession, SessionSigner
from control_plane.recommendations.events import EventStore
from edgefill_contracts import PlaybackResponse, PlaybackSessionLinks
from edgefill_contracts.signing import SignedKind, compute_token, parse_signed_path
from tests.support.playback_world import (
    CLIENT_IP,
    MEDIA_SIZE,
    OUTSIDE_IP,
    SECRET,
    StaticFleet,
    Viewer,
    put_titles,
    subscribed_viewer,
)

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@pytest.fixture
def titles(stack: ServiceSettings) -> list[Title]:
    return put_titles(stack, 2)


@pytest.fixture
def fleet(titles: list[Title]) -> StaticFleet:
    return StaticFleet(titles)


def _client(stack: ServiceSettings, fleet: StaticFleet, ip: str = CLIENT_IP) -> TestClient:
    app = create_app(stack)
    app.state.playback = replace(app.state.playback, fleet=fleet)
    return TestClient(app, client=(ip, 40000))


@pytest.fixture
def client(stack: ServiceSettings, fleet: StaticFleet) -> Iterator[TestClient]:
    with _client(stack, fleet) as client:
        yield client


@pytest.fixture
def viewer(stack: ServiceSettings) -> Viewer:
    return subscribed_viewer(stack)  # standard plan: up to 240p


def _start(client: TestClient, viewer: Viewer, title: Title) -> PlaybackSessionLinks:
    response = client.post(
        "/playback/start",
        json={"profile_id": viewer.profile_id, "title_id": title.title_id},
        headers=viewer.user.headers,
    )
    assert response.status_code == 200, response.text
    links = PlaybackResponse.model_validate(response.json()).session
    assert links is not None
    return links


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _variants(playlist: str) -> list[tuple[str, str]]:
    """(attributes, URI) of each EXT-X-STREAM-INF."""
    lines = playlist.splitlines()
    return [
        (line.split(":", 1)[1], lines[n + 1])
        for n, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]


def test_start_answers_session_urls_with_pathways_in_rank_order(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    assert links.pathways[-1] == "origin"
    assert set(links.pathways[:-1]) == {"appliance-1", "appliance-2"}
    assert timedelta(hours=5) < links.expires_at - datetime.now(UTC) < timedelta(hours=7)
    for url in (links.hls_url, links.dash_url, links.hls_steering_url, links.dash_steering_url):
        assert url.startswith("http://testserver/playback/sessions/")
    # The token names no account, profile or address.
    token = _path(links.hls_url).split("/")[3]
    assert viewer.user.account_id not in token and CLIENT_IP not in token


def test_multivariant_playlist_lists_the_plans_renditions_on_every_pathway(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    title = titles[0]
    links = _start(client, viewer, title)
    response = client.get(_path(links.hls_url))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert response.headers["access-control-allow-origin"] == "*"
    playlist = response.text
    assert playlist.startswith("#EXTM3U\n")
    steering = next(x for x in playlist.splitlines() if x.startswith("#EXT-X-CONTENT-STEERING:"))
    assert f'SERVER-URI="{links.hls_steering_url}"' in steering
    assert f'PATHWAY-ID="{links.pathways[0]}"' in steering
    # One audio group per pathway, its URI on that pathway (the lowest rendition's copy).
    media = [x for x in playlist.splitlines() if x.startswith("#EXT-X-MEDIA:TYPE=AUDIO,")]
    assert len(media) == len(links.pathways)
    for line, pathway in zip(media, links.pathways, strict=True):
        assert f'GROUP-ID="audio-{pathway}"' in line and 'LANGUAGE="en"' in line
        uri = line.split('URI="', 1)[1].rstrip('"')
        assert uri.endswith("/144p/audio.m3u8"), uri
    variants = _variants(playlist)
    # The standard plan stops at 240p: 144p and 240p on each of the three pathways, no 360p.
    assert len(variants) == 2 * len(links.pathways)
    assert "360p" not in playlist
    for attributes, uri in variants:
        pathway = attributes.split('PATHWAY-ID="', 1)[1].split('"', 1)[0]
        assert pathway in links.pathways
        assert 'CODECS="avc1.42c01e,mp4a.40.2"' in attributes and "RESOLUTION=" in attributes
        assert f'AUDIO="audio-{pathway}"' in attributes
        if pathway == "origin":
            assert "/origin/" in uri and uri.endswith("/index.m3u8")
            continue
        assert uri.startswith("https://10.0.0.")
        signed = parse_signed_path(urlsplit(uri).path)
        rendition = signed.rest.split("/", 1)[0]
        assert signed.kind is SignedKind.PLAYBACK and rendition in ("144p", "240p")
        assert signed.rest == f"{rendition}/index.m3u8"
        assert signed.token == compute_token(
            secret=SECRET.secret.get_secret_value(),
            scope=f"{title.title_id}/{rendition}",
            expires=signed.expires,
        )
        assert signed.expires == int(links.expires_at.timestamp())


def test_mpd_has_a_base_url_per_service_location_and_segment_base(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    response = client.get(_path(links.dash_url))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/dash+xml")
    mpd = ET.fromstring(response.content)
    assert mpd.get("type") == "static" and mpd.get("mediaPresentationDuration") == "PT6.000S"
    steering = mpd.find("d:ContentSteering", MPD_NS)
    assert steering is not None and steering.text == links.dash_steering_url
    assert steering.get("defaultServiceLocation") == links.pathways[0]
    representations = mpd.findall(".//d:Representation", MPD_NS)
    assert [r.get("id") for r in representations] == ["144p", "240p", "audio"]
    audio = representations[-1]
    assert audio.get("codecs") == "mp4a.40.2"
    bases = audio.findall("d:BaseURL", MPD_NS)
    assert [b.get("serviceLocation") for b in bases] == links.pathways
    assert all(b.text and "/144p/audio.mp4" in b.text for b in bases)
    representations = representations[:-1]
    for representation in representations:
        bases = representation.findall("d:BaseURL", MPD_NS)
        assert [b.get("serviceLocation") for b in bases] == links.pathways
        for base in bases[:-1]:
            assert base.text is not None and base.text.endswith(
                f"/{representation.get('id')}/media.mp4"
            )
        origin = bases[-1].text
        assert origin is not None and "X-Amz-Signature=" in origin
        segment_base = representation.find("d:SegmentBase", MPD_NS)
        assert segment_base is not None and segment_base.get("indexRange") == "800-875"
        init = segment_base.find("d:Initialization", MPD_NS)
        assert init is not None and init.get("range") == "0-799"


def test_the_origin_pathway_plays_from_the_private_bucket(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    variants = _variants(client.get(_path(links.hls_url)).text)
    origin_uri = next(uri for attributes, uri in variants if 'PATHWAY-ID="origin"' in attributes)
    playlist = client.get(_path(origin_uri), headers={"accept-encoding": "identity"}).text
    uris = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert len(uris) == 3 and len(set(uris)) == 1  # one presigned URL per single-file rendition
    assert '#EXT-X-MAP:URI="' + uris[0] + '",BYTERANGE="800@0"' in playlist
    # The presigned URL really opens the media file, by range as a player asks.
    got = httpx.get(uris[0], headers={"Range": "bytes=876-1575"}, timeout=5)
    assert got.status_code == 206 and len(got.content) == 700
    assert int(got.headers["content-range"].rsplit("/", 1)[1]) == MEDIA_SIZE


def test_steering_drops_a_drained_appliance_within_one_answer(
    client: TestClient, fleet: StaticFleet, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    first, second = links.pathways[:2]
    hls_answer = client.get(_path(links.hls_steering_url), params={"_HLS_pathway": first})
    assert hls_answer.status_code == 200
    assert hls_answer.json() == {
        "VERSION": 1,
        "TTL": 30,
        "PATHWAY-PRIORITY": links.pathways,
    }
    fleet.change(first, serving=False)  # drained
    after = client.get(_path(links.hls_steering_url), params={"_HLS_pathway": first}).json()
    assert after["PATHWAY-PRIORITY"] == [second, "origin"]
    fleet.change(second, healthy=False)
    dash_answer = client.get(_path(links.dash_steering_url), params={"_DASH_pathway": second})
    assert dash_answer.json() == {
        "VERSION": 1,
        "TTL": 30,
        "SERVICE-LOCATION-PRIORITY": ["origin"],
    }


def test_a_nearly_full_appliance_moves_behind_the_others(
    client: TestClient, fleet: StaticFleet, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    first, second = links.pathways[:2]
    fleet.change(first, weight=0.05)
    answer = client.get(_path(links.hls_steering_url)).json()
    assert answer["PATHWAY-PRIORITY"] == [second, first, "origin"]


def test_a_client_outside_every_site_gets_the_origin_pathway_only(
    stack: ServiceSettings, fleet: StaticFleet, viewer: Viewer, titles: list[Title]
) -> None:
    with _client(stack, fleet, ip=OUTSIDE_IP) as client:
        links = _start(client, viewer, titles[0])
        assert links.pathways == ["origin"]
        variants = _variants(client.get(_path(links.hls_url)).text)
    assert len(variants) == 2 and all('PATHWAY-ID="origin"' in a for a, _ in variants)


def _tampered(url: str) -> str:
    path = _path(url)
    token = path.split("/")[3]
    header, claims, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return path.replace(token, f"{header}.{claims}.{flipped}")


def _sealed(stack: ServiceSettings, *, secret: SecretStr | None = None, **claims: object) -> str:
    fields: dict[str, object] = {
        "session_id": "0123456789abcdef",
        "title_id": "title-0001",
        "renditions": ("144p",),
        "pathways": ("appliance-1",),
        "expires": int(datetime.now(UTC).timestamp()) + 3600,
    }
    fields.update(claims)
    signer = SessionSigner(secret or stack.session_secret)
    return signer.seal(PlaybackSession.model_validate(fields))


@pytest.mark.parametrize(
    "route",
    ["main.m3u8", "manifest.mpd", "steering", "origin/144p/index.m3u8", "origin/144p/audio.m3u8"],
)
def test_a_tampered_expired_or_foreign_session_is_refused(
    client: TestClient, stack: ServiceSettings, viewer: Viewer, titles: list[Title], route: str
) -> None:
    links = _start(client, viewer, titles[0])
    base = _path(links.hls_url).rsplit("/", 1)[0]
    tampered = _tampered(links.hls_url).rsplit("/", 1)[0]
    expired = _sealed(stack, expires=int(datetime.now(UTC).timestamp()) - 1)
    foreign = _sealed(stack, secret=SecretStr("another-stack-session-secret-0123"))
    assert client.get(f"{base}/{route}").status_code == 200
    for bad, code in (
        (f"{tampered}/{route}", "session_invalid"),
        (f"/playback/sessions/{expired}/{route}", "session_expired"),
        (f"/playback/sessions/{foreign}/{route}", "session_invalid"),
        (f"/playback/sessions/not.a.token-at-all/{route}", "session_invalid"),
    ):
        response = client.get(bad)
        assert response.status_code == 403, (bad, response.text)
        assert response.json()["error"] == code
        assert "#EXTM3U" not in response.text and "MPD" not in response.text


def test_a_pathway_or_rendition_outside_the_session_is_a_404(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    steering = client.get(_path(links.hls_steering_url), params={"_HLS_pathway": "appliance-9"})
    assert steering.status_code == 404
    assert steering.json()["error"] == "pathway_not_in_session"
    base = _path(links.hls_url).rsplit("/", 1)[0]
    # The standard plan stops at 240p: the session has no 360p, even though the title does.
    beyond_plan = client.get(f"{base}/origin/360p/index.m3u8")
    assert beyond_plan.status_code == 404
    assert "X-Amz-Signature" not in beyond_plan.text


def test_dash_js_reports_its_locations_as_a_quoted_list(
    client: TestClient, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    path = _path(links.dash_steering_url)
    known = ",".join(links.pathways)
    answer = client.get(path, params={"_DASH_pathway": f'"{known}"', "_DASH_throughput": ",,"})
    assert answer.status_code == 200 and answer.json()["SERVICE-LOCATION-PRIORITY"]
    foreign = client.get(path, params={"_DASH_pathway": f'"{links.pathways[0]},appliance-9"'})
    assert foreign.status_code == 404
    garbage = client.get(path, params={"_DASH_pathway": '"a1,<script>"'})
    assert garbage.status_code == 400
    # Errors reach a browser too: they carry the CORS header.
    from_browser = client.get(
        path, params={"_DASH_pathway": '"<x>"'}, headers={"Origin": "http://player.example"}
    )
    assert from_browser.status_code == 400
    assert from_browser.headers["access-control-allow-origin"] == "*"


def test_a_playlist_too_big_for_a_lambda_answer_is_sent_compressed_or_refused(
    client: TestClient, viewer: Viewer, titles: list[Title], monkeypatch: pytest.MonkeyPatch
) -> None:
    links = _start(client, viewer, titles[0])
    origin = _path(links.hls_url).rsplit("/", 1)[0] + "/origin/144p/index.m3u8"
    monkeypatch.setattr("control_plane.playback.session_routes.MAX_PLAIN_ANSWER_BYTES", 1024)
    plain = client.get(origin, headers={"accept-encoding": "identity"})
    assert plain.status_code == 413 and "Accept-Encoding: gzip" in plain.json()["message"]
    compressed = client.get(origin, headers={"accept-encoding": "gzip"})
    assert compressed.status_code == 200
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.text.startswith("#EXTM3U")  # httpx decodes it, as a player does


def test_without_a_session_secret_the_app_starts_and_playback_says_what_is_missing(
    stack: ServiceSettings, fleet: StaticFleet, viewer: Viewer, titles: list[Title]
) -> None:
    unset = stack.model_copy(update={"session_secret": SecretStr("")})
    app = create_app(unset)
    app.state.playback = replace(app.state.playback, fleet=fleet)
    with TestClient(app, client=(CLIENT_IP, 40000)) as client:
        response = client.post(
            "/playback/start",
            json={"profile_id": viewer.profile_id, "title_id": titles[0].title_id},
            headers=viewer.user.headers,
        )
    assert response.status_code == 503
    assert response.json()["error"] == "sessions_unconfigured"
    assert "EDGEFILL_SESSION_SECRET" in response.json()["message"]
    # Nothing was recorded for a play that did not start.
    assert not list(EventStore.from_settings(stack).since(datetime(2020, 1, 1, tzinfo=UTC)))


def test_an_origin_playlist_that_does_not_match_the_catalogue_is_not_served(
    client: TestClient, stack: ServiceSettings, viewer: Viewer, titles: list[Title]
) -> None:
    links = _start(client, viewer, titles[0])
    base = _path(links.hls_url).rsplit("/", 1)[0]
    key = f"{titles[0].title_id}/144p/index.m3u8"
    # The object in the bucket was replaced (a re-encode in progress): its sha256 no longer
    # matches the catalogue's, so nothing is signed from it.
    s3(stack).put_object(Bucket=stack.origin_bucket, Key=key, Body=b"#EXTM3U\nother.mp4\n")
    response = client.get(f"{base}/origin/144p/index.m3u8")
    assert response.status_code == 503
    assert "sha256" in response.json()["message"]
    assert "X-Amz-Signature" not in response.text
    # A playlist the session's rendition does not have is a 404, not a signed URL.
    assert client.get(f"{base}/origin/144p/secret.m3u8").status_code == 404
