"""The lab's viewers: sign up, subscribe, search, get picks, and play titles segment by segment
from the URLs steering returned, moving to the next URL when one fails, as a player does."""

from __future__ import annotations

import logging
import posixpath
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from edgefill_contracts import PlaybackResponse
from lab.errors import LabError
from lab.plan import LabClient
from lab.report import PlayReport

logger = logging.getLogger(__name__)

LAB_CLIENT_IP_HEADER = "X-Lab-Client-IP"
ORIGIN = "origin"


@dataclass
class Viewer:
    """One signed-up, subscribed account with one profile, calling from `client.ip`."""

    client: LabClient
    api: httpx.Client
    profile_id: str
    searches: list[str] = field(default_factory=list)


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise LabError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else None


def sign_up_viewer(api_url: str, client: LabClient) -> Viewer:
    """Sign up, confirm, log in, create a profile and subscribe (the test payment provider)."""
    headers = {LAB_CLIENT_IP_HEADER: client.ip}
    api = httpx.Client(base_url=api_url, headers=headers, timeout=30)
    email = f"{client.name.split('@')[0]}+{uuid.uuid4().hex[:8]}@lab.example"
    password = f"Lab-{uuid.uuid4().hex}-pw1!"
    _check(api.post("/auth/signup", json={"email": email, "password": password}), "sign up")
    # moto's Cognito accepts any code; a real pool e-mails it.
    _check(api.post("/auth/confirm", json={"email": email, "code": "123456"}), "confirm")
    tokens = _check(api.post("/auth/login", json={"email": email, "password": password}), "log in")
    api.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    profile = _check(api.post("/profiles", json={"name": client.name.split("@")[0]}), "profile")
    _check(
        api.post(
            "/billing/subscription",
            json={"plan_id": "standard", "payment_method": "pm_lab_card"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        ),
        "subscribe",
    )
    return Viewer(client=client, api=api, profile_id=profile["profile_id"])


def browse(viewer: Viewer) -> list[str]:
    """List the catalog, search for a title by a word of its name (as a viewer types it, in
    lower case), and fetch the profile's picks; return the listed title ids."""
    listing = _check(viewer.api.get("/catalog/search", params={"q": ""}), "catalog listing")
    titles = [hit["title_id"] for hit in listing["results"]]
    if not titles:
        raise LabError("the catalog is empty: the seeder put no title in it")
    word = listing["results"][0]["name"].split()[0].lower()
    found = _check(viewer.api.get("/catalog/search", params={"q": word}), "search")
    viewer.searches.append(word)
    if titles[0] not in [hit["title_id"] for hit in found["results"]]:
        raise LabError(f"search for {word!r} did not find {titles[0]}")
    _check(viewer.api.get(f"/recommendations/profiles/{viewer.profile_id}"), "recommendations")
    return titles


@dataclass(frozen=True)
class MediaPart:
    """One request a player makes for a media playlist: a URI and, for byte-range playlists,
    the range (`EXT-X-MAP` / `EXT-X-BYTERANGE`, RFC 8216 4.3.2.2 and 4.3.2.5)."""

    uri: str
    byte_range: tuple[int, int] | None = None  # (offset, length)
    is_init: bool = False


_MAP_URI = re.compile(r'URI="([^"]+)"')
_MAP_RANGE = re.compile(r'BYTERANGE="(\d+)(?:@(\d+))?"')


def media_parts(playlist: str) -> list[MediaPart]:
    """The init section (if any) and every segment of a media playlist, in play order.

    Hand-parsed (two tags) rather than with an m3u8 library the lab does not otherwise need;
    a BYTERANGE without an offset continues where the previous range of the same URI ended.
    """
    parts: list[MediaPart] = []
    pending: tuple[int, int | None] | None = None
    ends: dict[str, int] = {}
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            uri = _MAP_URI.search(line)
            if uri is None:
                raise LabError(f"EXT-X-MAP without a URI: {line!r}")
            found = _MAP_RANGE.search(line)
            span = None if found is None else (int(found[2] or 0), int(found[1]))
            parts.append(MediaPart(uri=uri[1], byte_range=span, is_init=True))
        elif line.startswith("#EXT-X-BYTERANGE:"):
            size, _, at = line.split(":", 1)[1].partition("@")
            pending = (int(size), int(at) if at else None)
        elif line and not line.startswith("#"):
            segment_range: tuple[int, int] | None = None
            if pending is not None:
                size_of, at_of = pending
                start = at_of if at_of is not None else ends.get(line, 0)
                segment_range = (start, size_of)
                ends[line] = start + size_of
                pending = None
            parts.append(MediaPart(uri=line, byte_range=segment_range))
    return parts


def start_playback(viewer: Viewer, title_id: str) -> PlaybackResponse:
    """Ask the control plane where to play `title_id` from (signed appliance URLs, then origin)."""
    response = viewer.api.post(
        "/playback/start", json={"profile_id": viewer.profile_id, "title_id": title_id}
    )
    if response.status_code >= 400:
        raise LabError(f"playback/start: HTTP {response.status_code}: {response.text[:200]}")
    return PlaybackResponse.model_validate(response.json())


# Called after each file a play fetched: (index, source), index 0 being the playlist.
AfterFetch = Callable[[int, str], None]


def play(
    viewer: Viewer,
    title_id: str,
    *,
    content: httpx.Client,
    after_fetch: AfterFetch | None = None,
) -> PlayReport:
    """Start playback, then fetch the playlist and every segment, failing over URL by URL."""
    try:
        decision = start_playback(viewer, title_id)
    except LabError as exc:
        return _report(viewer, title_id, "-", [], {}, 0, error=exc)
    return play_decision(viewer, title_id, decision, content=content, after_fetch=after_fetch)


def play_decision(
    viewer: Viewer,
    title_id: str,
    decision: PlaybackResponse,
    *,
    content: httpx.Client,
    after_fetch: AfterFetch | None = None,
) -> PlayReport:
    """Play a session steering already answered: the playlist, then every segment, in order,
    moving to the next URL (and staying there) when one fails, as a player does."""
    # Appliance URLs are signed rendition directories; origin_files has one URL per file.
    bases = [(u.appliance_id or ORIGIN, u.url) for u in decision.urls]
    bytes_by_source: dict[str, int] = {}
    failovers = 0
    position = 0
    fetched = 0

    def fetch(relative: str, byte_range: tuple[int, int] | None = None) -> bytes:
        nonlocal position, failovers, fetched
        headers = {}
        if byte_range is not None:
            offset, length = byte_range
            headers["Range"] = f"bytes={offset}-{offset + length - 1}"
        while position <= len(bases):
            if position == len(bases):
                source = ORIGIN
                # Each file has its own presigned origin URL (a private bucket signs per key).
                url = decision.origin_files.get(relative, "")
                if not url:
                    raise LabError(f"no origin URL for {relative} in the playback answer")
            else:
                source, base = bases[position]
                url = urljoin(base, relative)
            try:
                got = content.get(url, headers=headers)
            except httpx.TransportError as exc:
                logger.info("%s failed for %s (%s); next URL", source, relative, exc)
            else:
                body = _part_of(got, byte_range)
                if body is not None:
                    bytes_by_source[source] = bytes_by_source.get(source, 0) + len(body)
                    # Outside the try: a failing hook is not a failing content server.
                    if after_fetch is not None:
                        after_fetch(fetched, source)
                    fetched += 1
                    return body
                logger.info("%s answered %d for %s; next URL", source, got.status_code, relative)
            position += 1
            failovers += 1
        raise LabError(f"every URL failed for {relative}")

    steered = [u.appliance_id for u in decision.urls if u.appliance_id]
    try:
        playlist = fetch(decision.playlist).decode()
        directory = posixpath.dirname(decision.playlist)
        parts = media_parts(playlist)
        for part in parts:
            fetch(posixpath.join(directory, part.uri), part.byte_range)
        segments = sum(1 for part in parts if not part.is_init)
    except (LabError, UnicodeDecodeError, ValueError) as exc:
        return _report(
            viewer, title_id, decision.rendition, steered, bytes_by_source, failovers, error=exc
        )
    return _report(
        viewer, title_id, decision.rendition, steered, bytes_by_source, failovers, segments
    )


def _part_of(response: httpx.Response, byte_range: tuple[int, int] | None) -> bytes | None:
    """The bytes asked for: a whole 200, or the exact range of a 206 (a 200 to a range request
    is cut to the range, as players do); None for anything else, which moves to the next URL."""
    if byte_range is None:
        return response.content if response.status_code == 200 else None
    offset, length = byte_range
    if response.status_code == 206:
        expected = f"bytes {offset}-{offset + length - 1}/"
        if response.headers.get("content-range", "").startswith(expected):
            return response.content if len(response.content) == length else None
        return None
    if response.status_code == 200 and len(response.content) >= offset + length:
        return response.content[offset : offset + length]
    return None


def _report(
    viewer: Viewer,
    title_id: str,
    rendition: str,
    steered: list[str],
    bytes_by_source: dict[str, int],
    failovers: int,
    segments: int = 0,
    *,
    error: Exception | None = None,
) -> PlayReport:
    """What one play saw; a play with an error played no segment to the end."""
    return PlayReport(
        client=viewer.client.name,
        client_ip=viewer.client.ip,
        title_id=title_id,
        rendition=rendition,
        steered_to=steered,
        segments=segments if error is None else 0,
        bytes_by_source=bytes_by_source,
        failovers=failovers,
        ok=error is None,
        error=None if error is None else str(error),
    )
