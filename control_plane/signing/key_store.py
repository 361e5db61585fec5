"""The URL-signing key set: the secrets appliances accept, rotated by an operator with a grace."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from control_plane.common.documents import DocumentTable
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.signing.tables import SIGNING_SECRETS
from edgefill_contracts.fleet_api import SigningSecret, SigningSecretSet

logger = logging.getLogger(__name__)

MAX_ACCEPTED = 4  # SigningSecretSet's limit
DEFAULT_GRACE = timedelta(hours=24)


class StoredSigningSecret(BaseModel):
    """One secret as stored (the table is KMS-encrypted at rest); never returned as is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    value: str = Field(min_length=16, repr=False)
    created_at: datetime
    not_after: datetime | None = None


class SigningSecretStore:
    """The key set in its table. With an empty table, the first secret is derived from
    EDGEFILL_URL_SIGNING_SECRET (the same id and value in every process); only a store that
    `writes_seed` (the fleet service's) stores it, so readers such as playback, whose role may
    not write the table, answer the same seed without writing."""

    def __init__(self, *, settings: ServiceSettings, writes_seed: bool = True) -> None:
        self._settings = settings
        self._writes_seed = writes_seed
        self._docs = DocumentTable(
            settings=settings,
            spec=SIGNING_SECRETS,
            model=StoredSigningSecret,
            key_of=lambda s: {"secret_id": s.secret_id},
        )

    def active(self, *, now: datetime) -> list[StoredSigningSecret]:
        """Unexpired secrets, newest first (at most four); seeds the first from settings."""
        found = [s for s in self._docs.scan() if s.not_after is None or s.not_after > now]
        if not found:
            found = [self._seed(now=now)]
        return sorted(found, key=lambda s: s.created_at, reverse=True)[:MAX_ACCEPTED]

    def rotate(self, *, now: datetime, grace: timedelta = DEFAULT_GRACE) -> StoredSigningSecret:
        """Add a new secret; every older one stays accepted for `grace`, then expires."""
        current = self.active(now=now)
        fresh = StoredSigningSecret(
            secret_id="s" + now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(3),
            value=secrets.token_urlsafe(32),
            created_at=now,
        )
        self._docs.create(fresh, what=f"signing secret {fresh.secret_id}")
        for old in current:
            if old.not_after is None or old.not_after > now + grace:
                self._docs.update(
                    {"secret_id": old.secret_id},
                    lambda s: s.model_copy(update={"not_after": now + grace}),
                    what=f"signing secret {old.secret_id}",
                )
        logger.info("rotated URL-signing secret: new id %s", fresh.secret_id)
        return fresh

    def _seed(self, *, now: datetime) -> StoredSigningSecret:
        value = self._settings.url_signing_secret.get_secret_value()
        if len(value) < 16:
            raise Unavailable(
                "no URL-signing secret is configured: set EDGEFILL_URL_SIGNING_SECRET "
                "(16+ characters) or rotate one in through the admin API"
            )
        seed = StoredSigningSecret(
            secret_id="s0" + hashlib.sha256(value.encode()).hexdigest()[:8],
            value=value,
            created_at=datetime(2000, 1, 1, tzinfo=now.tzinfo),
        )
        if not self._writes_seed:
            return seed
        existing = self._docs.get({"secret_id": seed.secret_id})
        if existing is not None:
            return existing.doc
        self._docs.upsert(
            {"secret_id": seed.secret_id}, initial=seed, change=lambda s: s, what="seed secret"
        )
        return seed


class ActiveSecretSource(Protocol):
    """Anything that answers the active set: the store itself, or a cached view of it."""

    def active(self, *, now: datetime) -> list[StoredSigningSecret]: ...


class CachedActiveSecrets:
    """The active set, read from the table at most once per `ttl` in this process.

    A heartbeat's ack names the ids to accept; at fleet rate (10,000 appliances every 15 s)
    reading the table for each would be ~670 scans a second. A rotation reaches acks within
    `ttl`, well inside its grace; a secret that expires leaves the answer at once (the cached
    set is filtered by `now` on every call)."""

    def __init__(
        self, store: SigningSecretStore, *, ttl: timedelta = timedelta(seconds=60)
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._cached: tuple[datetime, list[StoredSigningSecret]] | None = None
        self._lock = threading.Lock()

    def active(self, *, now: datetime) -> list[StoredSigningSecret]:
        with self._lock:
            cached = self._cached
            if cached is None or not cached[0] <= now < cached[0] + self._ttl:
                cached = (now, self._store.active(now=now))
                self._cached = cached
        current = [s for s in cached[1] if s.not_after is None or s.not_after > now]
        return current or self._store.active(now=now)

    def invalidate(self) -> None:
        """Read the table on the next call (after a rotation made by this process)."""
        with self._lock:
            self._cached = None


def as_contract(stored: list[StoredSigningSecret]) -> SigningSecretSet:
    return SigningSecretSet(
        secrets=[
            SigningSecret(secret_id=s.secret_id, secret=SecretStr(s.value), not_after=s.not_after)
            for s in stored
        ]
    )
