"""The heartbeat's per-site key set: read at most once per TTL, never an expired key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.signing.key_store import CachedActiveSecrets, StoredSigningSecret

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Store:
    """The table as CachedActiveSecrets reads it, and the seed it derives for a new site."""

    def __init__(self, *secrets: StoredSigningSecret) -> None:
        self.secrets = list(secrets)
        self.reads = 0

    def stored(self) -> list[StoredSigningSecret]:
        self.reads += 1
        return list(self.secrets)

    def derived_seed(self, site_id: str, *, now: datetime) -> StoredSigningSecret:
        return secret(
            f"seed-{site_id}", site_id=site_id, created_at=datetime(2000, 1, 1, tzinfo=UTC)
        )


def secret(
    secret_id: str,
    *,
    site_id: str = "site-a",
    not_after: datetime | None = None,
    created_at: datetime = NOW,
) -> StoredSigningSecret:
    return StoredSigningSecret(
        secret_id=secret_id,
        site_id=site_id,
        value="v" * 20,
        created_at=created_at,
        not_after=not_after,
    )


def ids(cached: CachedActiveSecrets, site_id: str, at: datetime) -> list[str]:
    return [s.secret_id for s in cached.for_site(site_id, now=at)]


def test_the_table_is_read_once_per_ttl_and_a_rotation_shows_after_it() -> None:
    store = Store(secret("k1"))
    cached = CachedActiveSecrets(store, ttl=timedelta(seconds=60))  # type: ignore[arg-type]
    for seconds in range(0, 60, 5):
        assert ids(cached, "site-a", NOW + timedelta(seconds=seconds)) == ["k1"]
    assert store.reads == 1
    store.secrets.append(secret("k2", created_at=NOW + timedelta(seconds=1)))
    assert ids(cached, "site-a", NOW + timedelta(seconds=60)) == ["k2", "k1"]
    assert store.reads == 2


def test_an_expiring_secret_leaves_the_answer_at_once() -> None:
    store = Store(
        secret("k2", created_at=NOW + timedelta(seconds=1)),
        secret("k1", not_after=NOW + timedelta(seconds=10)),
    )
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    assert ids(cached, "site-a", NOW) == ["k2", "k1"]
    assert ids(cached, "site-a", NOW + timedelta(seconds=11)) == ["k2"]
    assert store.reads == 1


def test_each_site_answers_only_its_own_keys_and_a_new_site_its_seed() -> None:
    store = Store(secret("a1", site_id="site-a"), secret("b1", site_id="site-b"))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    assert ids(cached, "site-a", NOW) == ["a1"]
    assert ids(cached, "site-b", NOW) == ["b1"]
    assert ids(cached, "site-c", NOW) == ["seed-site-c"]
    assert store.reads == 1


def test_a_site_whose_cached_keys_all_expired_reads_the_table_again() -> None:
    store = Store(secret("k1", not_after=NOW + timedelta(seconds=5)))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    assert ids(cached, "site-a", NOW) == ["k1"]
    store.secrets.append(secret("k2"))
    assert ids(cached, "site-a", NOW + timedelta(seconds=6)) == ["k2"]
    assert store.reads == 2


def test_a_clock_that_goes_back_reads_again() -> None:
    store = Store(secret("k1"))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    cached.for_site("site-a", now=NOW)
    cached.for_site("site-a", now=NOW - timedelta(seconds=1))
    assert store.reads == 2


def test_a_rotation_in_this_process_shows_at_once() -> None:
    store = Store(secret("k1"))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    cached.for_site("site-a", now=NOW)
    store.secrets.append(secret("k2", created_at=NOW + timedelta(seconds=1)))
    cached.invalidate()
    assert ids(cached, "site-a", NOW) == ["k2", "k1"]
