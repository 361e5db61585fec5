"""The lab player: it plays a session's pathways in order, fails over pathway by pathway, and a
failing play hook is not a failing server."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from edgefill_contracts import PlaybackResponse, PlaybackSessionLinks
from lab.client import LabSession, MediaPart, Viewer, media_parts, play, play_decision
from lab.plan import LabClient

NOW = datetime(2026, 11, 25, tzinfo=UTC)


SESSION = "https://api.test/playback/sessions/tok"
MULTIVARIANT = f"""#EXTM3U
#EXT-X-CONTENT-STEERING:SERVER-URI="{SESSION}/steering",PATHWAY-ID="a"
#EXT-X-STREAM-INF:BANDWIDTH=100000,PATHWAY-ID="a"
https://a.test/t/x/tok/1/t1/144p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,PATHWAY-ID="a"
https://a.test/t/x/tok/1/t1/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,PATHWAY-ID="b"
https://b.test/t/x/tok/1/t1/360p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,PATHWAY-ID="origin"
{SESSION}/origin/360p/index.m3u8
"""


def _decision() -> LabSession:
    links = PlaybackSessionLinks(
        hls_url=f"{SESSION}/main.m3u8",
        dash_url=f"{SESSION}/manifest.mpd",
        hls_steering_url=f"{SESSION}/steering",
        dash_steering_url=f"{SESSION}/steering/dash",
        pathways=["a", "b", "origin"],
        expires_at=NOW,
    )
    response = PlaybackResponse(
        title_id="t1",
        rendition="360p",
        renditions=["360p"],
        session=links,
    )
    return LabSession(response=response, links=links, multivariant=MULTIVARIANT)


def test_the_session_names_its_appliance_pathways_and_each_variant() -> None:
    session = _decision()
    assert session.steered == ["a", "b"]
    assert session.variant_uri("b", "360p") == "https://b.test/t/x/tok/1/t1/360p/index.m3u8"
    assert session.variant_uri("origin", "360p") == f"{SESSION}/origin/360p/index.m3u8"


def _viewer() -> Viewer:
    client = LabClient(name="anna@ams", ip="198.51.100.23", expect_site="ams1")
    return Viewer(client=client, api=httpx.Client(), profile_id="p1")


def _content(down: set[str]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host in down:
            raise httpx.ConnectError("refused", request=request)
        if request.url.path.endswith(".m3u8"):
            return httpx.Response(200, text="#EXTM3U\nseg_1.ts\nseg_2.ts\n")
        return httpx.Response(200, content=b"x" * 100)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_dead_first_url_moves_the_play_to_the_next_and_it_stays_there() -> None:
    with _content(down={"a.test"}) as content:
        report = play_decision(_viewer(), "t1", _decision(), content=content)
    assert report.ok and report.failovers == 1
    assert report.bytes_by_source == {"b": len("#EXTM3U\nseg_1.ts\nseg_2.ts\n") + 200}


def test_a_hook_that_fails_is_raised_not_counted_as_a_failover() -> None:
    def hook(index: int, source: str) -> None:
        if index == 1:
            raise httpx.ConnectError("the admin API is down")

    with _content(down=set()) as content, pytest.raises(httpx.ConnectError, match="admin API"):
        play_decision(_viewer(), "t1", _decision(), content=content, after_fetch=hook)


def test_a_refused_playback_start_is_a_failed_play() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "no active subscription"})

    viewer = _viewer()
    viewer.api = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(api))
    with _content(down=set()) as content:
        report = play(viewer, "t1", content=content)
    assert (report.ok, report.rendition, report.segments) == (False, "-", 0)
    assert report.error is not None and "HTTP 403" in report.error


def test_every_pathway_failing_is_a_failed_play_that_says_which_file() -> None:
    with _content(down={"a.test", "b.test", "api.test"}) as content:
        report = play_decision(_viewer(), "t1", _decision(), content=content)
    assert (report.ok, report.segments, report.failovers) == (False, 0, 3)
    assert report.error == "every pathway failed for the 360p media playlist"


def test_the_origin_pathway_plays_last() -> None:
    with _content(down={"a.test", "b.test"}) as content:
        report = play_decision(_viewer(), "t1", _decision(), content=content)
    assert report.ok and report.failovers == 2 and set(report.bytes_by_source) == {"origin"}


BYTE_RANGE_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-MAP:URI="media.mp4",BYTERANGE="826@0"
#EXTINF:2.000000,
#EXT-X-BYTERANGE:100@826
media.mp4
#EXTINF:2.000000,
#EXT-X-BYTERANGE:50
media.mp4
#EXT-X-ENDLIST
"""
MEDIA = bytes(range(256)) * 4  # 1,024 bytes


def test_a_byte_range_playlist_is_the_init_section_then_each_range() -> None:
    assert media_parts(BYTE_RANGE_PLAYLIST) == [
        MediaPart(uri="media.mp4", byte_range=(0, 826), is_init=True),
        MediaPart(uri="media.mp4", byte_range=(826, 100)),
        MediaPart(uri="media.mp4", byte_range=(926, 50)),  # continues where the last ended
    ]
    assert media_parts("#EXTM3U\nseg_1.ts\n") == [MediaPart(uri="seg_1.ts")]


def _ranged_content(*, a_answers: str) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(".m3u8"):
            return httpx.Response(200, text=BYTE_RANGE_PLAYLIST)
        first, last = (int(n) for n in request.headers["range"][6:].split("-"))
        if request.url.host == "a.test" and a_answers == "whole":
            return httpx.Response(200, content=MEDIA)
        if request.url.host == "a.test" and a_answers == "wrong range":
            return httpx.Response(
                206, content=MEDIA[:10], headers={"Content-Range": "bytes 0-9/1024"}
            )
        return httpx.Response(
            206,
            content=MEDIA[first : last + 1],
            headers={"Content-Range": f"bytes {first}-{last}/{len(MEDIA)}"},
        )

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("a_answers", "failovers", "by_source"),
    [
        ("ranges", 0, {"a": len(BYTE_RANGE_PLAYLIST) + 976}),
        ("whole", 0, {"a": len(BYTE_RANGE_PLAYLIST) + 976}),  # cut to the range, as players do
        # b's media playlist is loaded again, as a player switching pathway does.
        ("wrong range", 1, {"a": len(BYTE_RANGE_PLAYLIST), "b": len(BYTE_RANGE_PLAYLIST) + 976}),
    ],
)
def test_byte_ranges_are_fetched_as_ranges_and_a_wrong_range_moves_on(
    a_answers: str, failovers: int, by_source: dict[str, int]
) -> None:
    with _ranged_content(a_answers=a_answers) as content:
        report = play_decision(_viewer(), "t1", _decision(), content=content)
    assert report.ok, report.error
    assert (report.segments, report.failovers, report.bytes_by_source) == (2, failovers, by_source)
