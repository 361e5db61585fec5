"""Playback sessions: what one play may fetch, sealed into the token its manifest URLs carry.

A player that knows nothing of edgefill cannot attach a subscriber token to the requests it
makes for a multivariant playlist, an MPD or a steering update, so those URLs carry the session
itself: a JWT (HS256 under the stack's session secret, PyJWT) naming the title, the renditions
the plan allows, the pathways steering chose (appliance ids, ranked; the origin is implicit and
last) and an expiry. Nothing is stored per session: any playback container answers any session
from the token and the steering snapshot. The token names no account or address (it travels in
URLs and logs); `sid` ties it to the play event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import jwt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from control_plane.catalog.models import TitleId
from control_plane.playback.errors import (
    PathwayUnknown,
    SessionExpired,
    SessionInvalid,
    SessionsUnconfigured,
)

AUDIENCE = "edgefill-playback-session"
ALGORITHM = "HS256"
ORIGIN_PATHWAY = "origin"
MAX_PATHWAYS = 8
# HLS PATHWAY-ID / DASH serviceLocation: the spec allows [a-zA-Z0-9._-]; appliance ids fit.
PATHWAY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_RENDITION = r"^[0-9]{3,4}p$"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
MAX_TOKEN_LENGTH = 4096


class PlaybackSession(BaseModel):
    """The claims of a session token (short names: the token travels in every manifest URL)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    session_id: str = Field(alias="sid", min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    title_id: TitleId = Field(alias="tid")
    renditions: tuple[Annotated[str, Field(pattern=_RENDITION)], ...] = Field(
        alias="ren", min_length=1, max_length=16
    )
    pathways: tuple[Annotated[str, Field(pattern=PATHWAY_ID)], ...] = Field(
        alias="pw", default=(), max_length=MAX_PATHWAYS
    )
    expires: int = Field(alias="exp", gt=0)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)

    def all_pathways(self) -> tuple[str, ...]:
        """The appliance pathways in rank order, then the origin."""
        return (*self.pathways, ORIGIN_PATHWAY)

    def check_rendition(self, rendition: str) -> None:
        if rendition not in self.renditions:
            raise PathwayUnknown(f"rendition {rendition!r} is not part of this session")


class SessionSigner:
    """Seals and opens session tokens with the stack's session secret.

    A missing or short secret is refused when a session is sealed or opened (503, naming the
    setting), not when the app starts: the other playback routes still answer. Production
    settings refuse to load without it (`ServiceSettings`).
    """

    def __init__(self, secret: SecretStr) -> None:
        self._secret = secret.get_secret_value()

    def _key(self) -> str:
        if len(self._secret) < 16:
            raise SessionsUnconfigured(
                "the playback session secret is unset or shorter than 16 characters: set "
                "EDGEFILL_SESSION_SECRET (the stack stores it in Secrets Manager)"
            )
        return self._secret

    def seal(self, session: PlaybackSession) -> str:
        claims = session.model_dump(by_alias=True, mode="json")
        claims["aud"] = AUDIENCE
        return jwt.encode(claims, self._key(), algorithm=ALGORITHM)

    def open(self, token: str, *, now: datetime | None = None) -> PlaybackSession:
        """The session `token` names; SessionInvalid or SessionExpired (both 403) otherwise."""
        if len(token) > MAX_TOKEN_LENGTH or not _TOKEN.match(token):
            raise SessionInvalid("this is not a playback session token; start playback again")
        now = now or datetime.now(UTC)
        try:
            claims = jwt.decode(
                token,
                self._key(),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "aud"], "verify_exp": False},
            )
        except jwt.InvalidTokenError as exc:
            raise SessionInvalid(
                "this playback session token is not valid; start playback again"
            ) from exc
        claims.pop("aud", None)
        try:
            session = PlaybackSession.model_validate(claims)
        except ValidationError as exc:
            raise SessionInvalid("this playback session token is malformed") from exc
        if session.expires <= now.timestamp():
            raise SessionExpired(
                f"this playback session expired at {session.expires_at.isoformat()}; "
                "start playback again"
            )
        return session
