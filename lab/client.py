"""The lab's viewers: sign up, subscribe, search, get picks, and play titles part by part from
the session's HLS pathways, moving to the next pathway when one fails, as a player does."""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from edgefill_contracts import PlaybackResponse, PlaybackSessionLinks
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


@dataclass(frozen=True)
class LabSession:
    """What `/playback/start` answered, and the session's HLS multivariant playlist, fetched at
    once as a player does (so a session started before the control plane dies plays on)."""

    response: PlaybackResponse
    links: PlaybackSessionLinks
    multivariant: str

    @property
    def rendition(self) -> str:
        return self.response.rendition

    @property
    def steered(self) -> list[str]:
        """The appliance pathways, in steering's rank order (the origin left out)."""
        return [p for p in self.links.pathways if p != ORIGIN]

    def variant_uri(self, pathway: str, rendition: str) -> str:
        """The absolute URL of `rendition`'s media playlist on `pathway`: the variant of that
        PATHWAY-ID whose URI names the rendition (``.../<rendition>/index.m3u8`` on an
        appliance, ``.../origin/<rendition>.m3u8`` on the control plane)."""
        lines = self.multivariant.splitlines()
        for info, uri in itertools.pairwise(lines):
            if not info.startswith("#EXT-X-STREAM-INF:") or f'PATHWAY-ID="{pathway}"' not in info:
                continue
            path = urlsplit(uri).path
            if f"/{rendition}/" in path or path.endswith(f"/{rendition}.m3u8"):
                return urljoin(self.links.hls_url, uri)
        raise LabError(f"the multivariant playlist has no {rendition} on pathway {pathway}")


def start_playback(viewer: Viewer, title_id: str) -> LabSession:
    """Ask the control plane for a session of `title_id`, then load its multivariant playlist."""
    response = viewer.api.post(
        "/playback/start", json={"profile_id": viewer.profile_id, "title_id": title_id}
    )
    if response.status_code >= 400:
        raise LabError(f"playback/start: HTTP {response.status_code}: {response.text[:200]}")
    answer = PlaybackResponse.model_validate(response.json())
    multivariant = httpx.get(answer.session.hls_url, timeout=30)
    if multivariant.status_code != 200:
        raise LabError(f"multivariant playlist: HTTP {multivariant.status_code}")
    return LabSession(response=answer, links=answer.session, multivariant=multivariant.text)


# Called after each file a play fetched: (index, source), index 0 being the media playlist.
AfterFetch = Callable[[int, str], None]


def play(
    viewer: Viewer,
    title_id: str,
    *,
    content: httpx.Client,
    after_fetch: AfterFetch | None = None,
) -> PlayReport:
    """Start a session, then play it: the media playlist and every part, pathway by pathway."""
    try:
        session = start_playback(viewer, title_id)
    except LabError as exc:
        return failed_play(viewer, title_id, exc)
    return play_decision(viewer, title_id, session, content=content, after_fetch=after_fetch)


def play_decision(
    viewer: Viewer,
    title_id: str,
    session: LabSession,
    *,
    content: httpx.Client,
    after_fetch: AfterFetch | None = None,
) -> PlayReport:
    """Play a started session at the plan's rendition, as an HLS player does: its pathways in
    rank order, the origin last; a failed request moves the play to the next pathway (and it
    stays there), where the media playlist is loaded again and play resumes at the same part."""
    pathways = session.links.pathways
    rendition = session.rendition
    bytes_by_source: dict[str, int] = {}
    failovers = 0
    position = 0
    fetched = 0

    def on_pathway(what: Callable[[str], bytes | None], description: str) -> tuple[str, bytes]:
        nonlocal position, failovers
        while position < len(pathways):
            pathway = pathways[position]
            try:
                body = what(pathway)
            except (httpx.TransportError, LabError) as exc:
                logger.info("%s failed for %s (%s); next pathway", pathway, description, exc)
                body = None
            if body is not None:
                return pathway, body
            position += 1
            failovers += 1
        raise LabError(f"every pathway failed for {description}")

    def count(source: str, body: bytes) -> None:
        nonlocal fetched
        bytes_by_source[source] = bytes_by_source.get(source, 0) + len(body)
        # Outside the fetch: a failing hook is not a failing content server.
        if after_fetch is not None:
            after_fetch(fetched, source)
        fetched += 1

    playlists: dict[str, str] = {}

    def media_playlist(pathway: str) -> bytes | None:
        url = session.variant_uri(pathway, rendition)
        got = content.get(url)
        if got.status_code != 200:
            return None
        playlists[pathway] = url
        return got.content

    def part_at(index: int) -> Callable[[str], bytes | None]:
        def fetch(pathway: str) -> bytes | None:
            if pathway not in playlists:
                loaded = media_playlist(pathway)
                if loaded is None:
                    return None
                count(pathway, loaded)
            part = parts[index]
            headers = {}
            if part.byte_range is not None:
                offset, length = part.byte_range
                headers["Range"] = f"bytes={offset}-{offset + length - 1}"
            got = content.get(urljoin(playlists[pathway], part.uri), headers=headers)
            return _part_of(got, part.byte_range)

        return fetch

    try:
        source, text = on_pathway(media_playlist, f"the {rendition} media playlist")
        count(source, text)
        parts = media_parts(text.decode())
        for index in range(len(parts)):
            source, body = on_pathway(part_at(index), f"part {index} of {rendition}")
            count(source, body)
        segments = sum(1 for part in parts if not part.is_init)
    except (LabError, UnicodeDecodeError, ValueError) as exc:
        return _report(
            viewer, title_id, rendition, session.steered, bytes_by_source, failovers, error=exc
        )
    return _report(
        viewer, title_id, rendition, session.steered, bytes_by_source, failovers, segments
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


def failed_play(viewer: Viewer, title_id: str, error: Exception) -> PlayReport:
    """A play that never started (playback refused it, or the control plane failed)."""
    return _report(viewer, title_id, "-", [], {}, 0, error=error)


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
