"""URL-signing keys per site: the secrets a site's appliances accept, rotated per site.

Each site has its own keys, so a stolen appliance's keys sign only its own site's URLs, and
revoking one site's keys touches no other site. Until a site's first rotation its key is
derived from EDGEFILL_URL_SIGNING_SECRET and the site id (HMAC-SHA256: the same id and value in
every process, nothing written, unique per site); the first rotation stores that seed with an
expiry and a random key beside it, and from then on the site uses only stored keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from control_plane.common.documents import DocumentTable
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.signing.tables import SIGNING_SECRETS
from edgefill_contracts.fleet_api import SigningSecret, SigningSecretSet

logger = logging.getLogger(__name__)

MAX_ACCEPTED = 4  # SigningSecretSet's limit, per site
# Longer than any URL an appliance accepts (its edge caps a fill URL at 3 days, a playback URL
# at 8 hours), so a rotation with the default grace never breaks an issued URL.
DEFAULT_GRACE = timedelta(days=3, hours=1)
# A site's keys that expired this long ago are deleted at its next rotation.
_KEEP_EXPIRED = timedelta(days=7)
_SEED_CREATED_AT = datetime(2000, 1, 1)


class StoredSigningSecret(BaseModel):
    """One site's secret as stored (the table is KMS-encrypted at rest); never returned as is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    # None: a fleet-wide secret stored by an older release; no longer read (by_site skips it).
    site_id: str | None = Field(default=None, min_length=1, max_length=64)
    value: str = Field(min_length=16, repr=False)
    created_at: datetime
    not_after: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.not_after is None or self.not_after > now


def by_site(stored: Iterable[StoredSigningSecret]) -> dict[str, list[StoredSigningSecret]]:
    """Stored keys grouped by their site."""
    grouped: dict[str, list[StoredSigningSecret]] = defaultdict(list)
    for secret in stored:
        if secret.site_id is not None:
            grouped[secret.site_id].append(secret)
    return dict(grouped)


def site_key_sets(
    stored_by_site: Mapping[str, Sequence[StoredSigningSecret]],
    site_ids: Iterable[str],
    *,
    now: datetime,
    seed: SeedSource,
) -> dict[str, list[StoredSigningSecret]]:
    """Each site's active keys, newest first (at most MAX_ACCEPTED): its stored keys once it
    has any (expired ones included: a site that was rotated never falls back to its seed),
    else its derived seed. A site whose stored keys all expired has none (steering skips it)."""
    sets = {}
    for site_id in site_ids:
        kept = stored_by_site.get(site_id)
        if kept is None:
            sets[site_id] = [seed.derived_seed(site_id, now=now)]
            continue
        active = [s for s in kept if s.active(now)]
        sets[site_id] = sorted(active, key=lambda s: s.created_at, reverse=True)[:MAX_ACCEPTED]
    return sets


class SeedSource(Protocol):
    def derived_seed(self, site_id: str, *, now: datetime) -> StoredSigningSecret: ...


class SigningSecretStore:
    """Every site's keys in one table (key: secret_id; each item names its site)."""

    def __init__(self, *, settings: ServiceSettings) -> None:
        self._settings = settings
        self._docs = DocumentTable(
            settings=settings,
            spec=SIGNING_SECRETS,
            model=StoredSigningSecret,
            key_of=lambda s: {"secret_id": s.secret_id},
        )

    def stored(self) -> list[StoredSigningSecret]:
        """Every stored key of every site, expired ones included (one scan)."""
        return list(self._docs.scan())

    def key_sets(
        self, site_ids: Iterable[str], *, now: datetime
    ) -> dict[str, list[StoredSigningSecret]]:
        return site_key_sets(by_site(self.stored()), site_ids, now=now, seed=self)

    def for_site(self, site_id: str, *, now: datetime) -> list[StoredSigningSecret]:
        """The site's active keys, newest first."""
        return self.key_sets([site_id], now=now)[site_id]

    def derived_seed(self, site_id: str, *, now: datetime) -> StoredSigningSecret:
        """The site's key before its first rotation, derived from the fleet's master secret."""
        master = self._settings.url_signing_secret.get_secret_value()
        if len(master) < 16:
            raise Unavailable(
                "no URL-signing secret is configured: set EDGEFILL_URL_SIGNING_SECRET "
                "(16+ characters), from which each site's first key is derived"
            )

        def derive(purpose: str) -> bytes:
            message = f"edgefill url-signing seed v1 {purpose} {site_id}".encode()
            return hmac.new(master.encode(), message, hashlib.sha256).digest()

        return StoredSigningSecret(
            secret_id="s0" + derive("id").hex()[:16],
            site_id=site_id,
            value=base64.urlsafe_b64encode(derive("value")).decode().rstrip("="),
            created_at=_SEED_CREATED_AT.replace(tzinfo=now.tzinfo),
        )

    def rotate(
        self,
        site_id: str,
        *,
        now: datetime,
        grace: timedelta = DEFAULT_GRACE,
        stored: Sequence[StoredSigningSecret] | None = None,
    ) -> StoredSigningSecret:
        """Add a new key for one site; its older keys stay accepted for `grace`, then expire.

        `grace` zero revokes them at once (a stolen appliance): the site's issued URLs stop
        working and steering signs with the new key once its appliances accept it. `stored`
        is the site's stored keys when the caller has them (the scheduled job reads the table
        once for every site); otherwise the table is read.
        """
        site_keys = (
            list(stored)
            if stored is not None
            else [s for s in self.stored() if s.site_id == site_id]
        )
        if not site_keys:
            # The first rotation: the seed is stored so that it can expire like any other key.
            seed = self.derived_seed(site_id, now=now)
            self._docs.create(seed, what=f"site {site_id}'s seed key {seed.secret_id}")
            site_keys = [seed]
        fresh = StoredSigningSecret(
            secret_id="s" + now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(4),
            site_id=site_id,
            value=secrets.token_urlsafe(32),
            created_at=now,
        )
        self._docs.create(fresh, what=f"signing secret {fresh.secret_id}")
        for old in site_keys:
            if old.not_after is not None and old.not_after < now - _KEEP_EXPIRED:
                self._docs.delete({"secret_id": old.secret_id})
            elif old.not_after is None or old.not_after > now + grace:
                self._docs.update(
                    {"secret_id": old.secret_id},
                    lambda s: s.model_copy(update={"not_after": now + grace}),
                    what=f"signing secret {old.secret_id}",
                )
        logger.info(
            "rotated site %s's URL-signing key: new id %s, older ones expire at %s",
            site_id,
            fresh.secret_id,
            (now + grace).isoformat(),
        )
        return fresh


class SiteKeySource(Protocol):
    """Anything that answers sites' active keys: the store itself, or a cached view of it."""

    def key_sets(
        self, site_ids: Iterable[str], *, now: datetime
    ) -> dict[str, list[StoredSigningSecret]]: ...

    def for_site(self, site_id: str, *, now: datetime) -> list[StoredSigningSecret]: ...


class CachedActiveSecrets:
    """Every site's keys, read from the table at most once per `ttl` in this process.

    A heartbeat's ack names the ids its site accepts; at fleet rate (10,000 appliances every
    15 s) reading the table for each would be ~670 reads a second. A rotation reaches acks
    within `ttl`, well inside its grace; a key that expires leaves the answer at once (the
    cached keys are filtered by `now` on every call)."""

    def __init__(
        self, store: SigningSecretStore, *, ttl: timedelta = timedelta(seconds=60)
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._cached: tuple[datetime, dict[str, list[StoredSigningSecret]]] | None = None
        self._lock = threading.Lock()

    def _stored(self, now: datetime) -> dict[str, list[StoredSigningSecret]]:
        with self._lock:
            cached = self._cached
            if cached is None or not cached[0] <= now < cached[0] + self._ttl:
                cached = (now, by_site(self._store.stored()))
                self._cached = cached
        return cached[1]

    def key_sets(
        self, site_ids: Iterable[str], *, now: datetime
    ) -> dict[str, list[StoredSigningSecret]]:
        return site_key_sets(self._stored(now), site_ids, now=now, seed=self._store)

    def for_site(self, site_id: str, *, now: datetime) -> list[StoredSigningSecret]:
        found = self.key_sets([site_id], now=now)[site_id]
        if not found:  # every cached key expired: the table may hold a newer one
            self.invalidate()
            found = self.key_sets([site_id], now=now)[site_id]
        return found

    def invalidate(self) -> None:
        """Read the table on the next call (after a rotation made by this process)."""
        with self._lock:
            self._cached = None


def flatten(key_sets: dict[str, list[StoredSigningSecret]]) -> list[StoredSigningSecret]:
    """Every site's keys in one list (a key belongs to one site, so none repeats)."""
    return [secret for keys in key_sets.values() for secret in keys]


def as_contract(stored: list[StoredSigningSecret]) -> SigningSecretSet:
    return SigningSecretSet(
        secrets=[
            SigningSecret(secret_id=s.secret_id, secret=SecretStr(s.value), not_after=s.not_after)
            for s in stored
        ]
    )
