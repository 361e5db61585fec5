"""Benchmark `player-session`: what a playing player costs the control plane, at production size.

The fleet of `bench steering` (10,000 appliances in 2,000 sites, 1,000,000 client prefixes).
Sessions are started as `/playback/start` starts them (every rendition of a Zipf-drawn title,
pathways ranked by `rank_appliances`, sealed in a session token). Then each is answered as the
steering server answers a player asking every TTL: open the token (PyJWT, HS256), order its
pathways from the fleet view (`pathway_priority`), serialise the JSON.

Result: steering answers per CPU-second of one thread, against a floor of 5,000/s (ratio >= 1):
a million players asking every 30 s is about 33,000/s fleet-wide, so the floor keeps that to a
handful of busy Lambda cores. Details: session starts per second, and the sizes players fetch
for a 6-rendition title with sound on 8 appliance pathways and the origin: the multivariant
playlist and the MPD (for a 2-minute and a 2-hour title: constant size), and the origin
pathway's media playlist of a 2-hour title at 2 s segments, gzip'd, against Lambda's 6 MB.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from bench.bench_steering import build_view, client_ips
from bench.result import emit, make_result
from control_plane.catalog.models import AudioTrack, MediaFile, Rendition, SingleFileIndex
from control_plane.playback import dash, hls
from control_plane.playback.session import (
    MAX_PATHWAYS,
    ORIGIN_PATHWAY,
    PlaybackSession,
    SessionSigner,
)
from control_plane.signing.content_urls import signed_rendition_base
from control_plane.signing.keys import SigningKey
from control_plane.steering import pathway_priority, rank_appliances

ANSWERS = int(os.environ.get("EDGEFILL_BENCH_PLAYER_SESSION_ANSWERS", "100000"))
FLOOR_PER_S = 5_000.0
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
LADDER = (
    ("234p", 416),
    ("360p", 640),
    ("480p", 854),
    ("720p", 1280),
    ("1080p", 1920),
    ("2160p", 3840),
)
# A presigned URL made with a Lambda role's temporary credentials (the session token is most of it).
PRESIGNED = (
    "https://edgefill-prod-origin.s3.amazonaws.com/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA0000000000000000%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261207T000000Z&X-Amz-Expires=21600&X-Amz-SignedHeaders=host&X-Amz-Security-Token="
    + "I" * 1100
    + "&X-Amz-Signature="
    + "f" * 64
)


def sample_rendition(title: str, name: str, width: int, duration_s: float) -> Rendition:
    def file(leaf: str) -> MediaFile:
        return MediaFile(key=f"{title}/{name}/{leaf}", size=1000, sha256="0" * 64)

    def single(leaf: str) -> SingleFileIndex:
        return SingleFileIndex(
            media=f"{title}/{name}/{leaf}",
            initialization="0-1199",
            index_range=f"1200-{1200 + 12 * int(duration_s / 2) + 31}",
            duration_s=duration_s,
        )

    return Rendition(
        name=name,
        bandwidth=width * 2_000,
        width=width,
        codecs="avc1.640028",
        playlist=f"{title}/{name}/index.m3u8",
        files=tuple(file(f) for f in ("index.m3u8", "media.mp4", "audio.m3u8", "audio.mp4")),
        single_file=single("media.mp4"),
        audio=AudioTrack(
            language="en",
            name="English",
            channels=2,
            bandwidth=128_000,
            codecs="mp4a.40.2",
            playlist=f"{title}/{name}/audio.m3u8",
            single_file=single("audio.mp4"),
        ),
    )


def manifest_sizes(duration_s: float, key: SigningKey, expires: int) -> tuple[int, int]:
    """Bytes of the multivariant playlist and of the MPD of a 6-rendition title, 8 pathways."""
    title = "title-01234"
    renditions = [sample_rendition(title, n, w, duration_s) for n, w in LADDER]

    def at(base: str) -> hls.Pathway:
        return hls.Pathway(
            pathway_id=base,
            uri=lambda r, k: (
                f"https://{base}.isp.example:8443"
                + signed_rendition_base(key=key, title_id=title, rendition=r.name, expires=expires)
                + k.rsplit("/", 1)[1]
            ),
        )

    pathways = [at(f"app-{n:04d}-{n % 5}") for n in range(MAX_PATHWAYS)]
    session_url = "https://api.edgefill.example/playback/sessions/" + "t" * 420
    pathways.append(
        hls.Pathway(ORIGIN_PATHWAY, lambda r, k: f"{session_url}/origin/{r.name}/index.m3u8")
    )
    playlist = hls.multivariant_playlist(
        renditions=renditions, pathways=pathways, steering_uri=f"{session_url}/steering"
    )
    locations = [dash.ServiceLocation(p.pathway_id, p.uri) for p in pathways[:-1]]
    locations.append(dash.ServiceLocation(ORIGIN_PATHWAY, lambda _r, k: PRESIGNED.format(key=k)))
    mpd = dash.session_mpd(
        renditions=renditions, locations=locations, steering_url=f"{session_url}/steering/dash"
    )
    return len(playlist.encode()), len(mpd.encode())


def origin_playlist_gzip_bytes(duration_s: int) -> tuple[int, int]:
    """The origin pathway's media playlist of a `duration_s` title at 2 s segments: raw, gzip'd."""
    rendition = sample_rendition("title-01234", "1080p", 1920, duration_s)
    segments = duration_s // 2
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:2",
             '#EXT-X-MAP:URI="media.mp4",BYTERANGE="1200@0"']  # fmt: skip
    offset = 1200 + 12 * segments + 32
    for _ in range(segments):
        lines += ["#EXTINF:2.000000,", f"#EXT-X-BYTERANGE:1250000@{offset}", "media.mp4"]
        offset += 1_250_000
    lines.append("#EXT-X-ENDLIST")
    body = hls.origin_media_playlist(
        "\n".join(lines) + "\n",
        playlist=rendition.playlist,
        rendition=rendition,
        url_of=lambda key: PRESIGNED.format(key=key),
    ).encode()
    return len(body), len(gzip.compress(body, compresslevel=6))


def main() -> int:
    rng = random.Random(7)
    now = datetime.now(UTC)
    view, units, build_s = build_view(rng, now)
    print(f"FleetView: {view.prefix_count} prefixes in {build_s:.1f} s", file=sys.stderr)
    titles = sorted({u.split("/", 1)[0] for u in units})
    renditions = sorted({u.split("/", 1)[1] for u in units})
    signer = SessionSigner(SecretStr("bench-playback-session-secret-0123"))
    expires = int((now + timedelta(hours=6)).timestamp())
    weights = [1 / (i + 1) for i in range(len(titles))]
    starts = list(
        zip(client_ips(rng, ANSWERS), rng.choices(titles, weights=weights, k=ANSWERS), strict=True)
    )

    started = time.thread_time()
    tokens: list[tuple[str, tuple[str, ...]]] = []
    with_pathways = 0
    for n, (ip, title) in enumerate(starts):
        title_units = tuple(f"{title}/{r}" for r in renditions)
        ranking = rank_appliances(
            view=view,
            client_ip=ip,
            units=title_units,
            session_id=f"subscriber-{n}",
            max_appliances=MAX_PATHWAYS,
        )
        session = PlaybackSession(
            session_id=f"{n:016x}",
            title_id=title,
            renditions=tuple(renditions),
            pathways=tuple(r.appliance.appliance_id for r in ranking.appliances),
            expires=expires,
        )
        tokens.append((signer.seal(session), title_units))
        with_pathways += bool(ranking.appliances)
    start_cpu = time.thread_time() - started

    started = time.thread_time()
    answered_bytes = 0
    for token, title_units in tokens:
        session = signer.open(token, now=now)
        order = pathway_priority(
            view=view, pathways=session.pathways, units=title_units, origin=ORIGIN_PATHWAY
        )
        answered_bytes += len(
            json.dumps({"VERSION": 1, "TTL": 30, "PATHWAY-PRIORITY": list(order)})
        )
    answer_cpu = time.thread_time() - started
    per_s = len(tokens) / answer_cpu

    key = view.signing_keys[-1]
    short_playlist, short_mpd = manifest_sizes(120, key, expires)
    long_playlist, long_mpd = manifest_sizes(7200, key, expires)
    origin_raw, origin_gzip = origin_playlist_gzip_bytes(7200)
    token_bytes = max(len(token) for token, _ in tokens)
    result = make_result(
        name="player-session",
        metric="steering_answers_per_second_one_core",
        value=per_s,
        unit="answers/s",
        baseline=FLOOR_PER_S,
        target=1.0,
        answers=len(tokens),
        sessions_with_appliance_pathways=with_pathways,
        session_starts_per_s=round(len(tokens) / start_cpu, 1),
        longest_token_bytes=token_bytes,
        mean_answer_bytes=round(answered_bytes / len(tokens), 1),
        multivariant_bytes_2min=short_playlist,
        multivariant_bytes_2h=long_playlist,
        mpd_bytes_2min=short_mpd,
        mpd_bytes_2h=long_mpd,
        origin_playlist_2h_bytes=origin_raw,
        origin_playlist_2h_gzip_bytes=origin_gzip,
        lambda_response_limit_bytes=LAMBDA_RESPONSE_LIMIT,
        load_average=round(os.getloadavg()[0], 2),
    )
    sizes_ok = (
        short_playlist == long_playlist
        and abs(short_mpd - long_mpd) < 16
        and origin_gzip < LAMBDA_RESPONSE_LIMIT // 4
    )
    emit(result.model_copy(update={"ok": result.ok and sizes_ok}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
