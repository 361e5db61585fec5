"""The heartbeat's secret set: read at most once per TTL, and never an expired secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.signing.key_store import CachedActiveSecrets, StoredSigningSecret

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


class Store:
    def __init__(self, *secrets: StoredSigningSecret) -> None:
        self.secrets = list(secrets)
        self.reads = 0

    def active(self, *, now: datetime) -> list[StoredSigningSecret]:
        self.reads += 1
        return [s for s in self.secrets if s.not_after is None or s.not_after > now]


def secret(secret_id: str, *, not_after: datetime | None = None) -> StoredSigningSecret:
    return StoredSigningSecret(
        secret_id=secret_id, value="v" * 20, created_at=NOW, not_after=not_after
    )


def test_the_table_is_read_once_per_ttl_and_a_rotation_shows_after_it() -> None:
    store = Store(secret("k1"))
    cached = CachedActiveSecrets(store, ttl=timedelta(seconds=60))  # type: ignore[arg-type]
    for seconds in range(0, 60, 5):
        assert [s.secret_id for s in cached.active(now=NOW + timedelta(seconds=seconds))] == ["k1"]
    assert store.reads == 1
    store.secrets.insert(0, secret("k2"))
    assert [s.secret_id for s in cached.active(now=NOW + timedelta(seconds=60))] == ["k2", "k1"]
    assert store.reads == 2


def test_an_expiring_secret_leaves_the_answer_at_once() -> None:
    store = Store(secret("k2"), secret("k1", not_after=NOW + timedelta(seconds=10)))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    assert len(cached.active(now=NOW)) == 2
    assert [s.secret_id for s in cached.active(now=NOW + timedelta(seconds=11))] == ["k2"]
    assert store.reads == 1


def test_a_clock_that_goes_back_reads_again() -> None:
    store = Store(secret("k1"))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    cached.active(now=NOW)
    cached.active(now=NOW - timedelta(seconds=1))
    assert store.reads == 2


def test_a_rotation_in_this_process_shows_at_once() -> None:
    store = Store(secret("k1"))
    cached = CachedActiveSecrets(store)  # type: ignore[arg-type]
    cached.active(now=NOW)
    store.secrets.insert(0, secret("k2"))
    cached.invalidate()
    assert [s.secret_id for s in cached.active(now=NOW)] == ["k2", "k1"]
