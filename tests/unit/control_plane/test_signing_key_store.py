"""Per-site URL-signing keys: derived seeds, rotation, revocation, one site never another's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from control_plane.common.aws import dynamodb_table
from control_plane.common.errors import Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.reads import FleetReads
from control_plane.signing.key_store import MAX_ACCEPTED, SigningSecretStore
from control_plane.signing.tables import SIGNING_SECRETS

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _stored(settings: ServiceSettings) -> list[str]:
    table = dynamodb_table(settings, SIGNING_SECRETS)
    return sorted(str(item["secret_id"]) for item in table.scan()["Items"])


def test_each_site_derives_its_own_seed_the_same_in_every_process_without_writing(
    stack: ServiceSettings,
) -> None:
    reader = FleetReads.from_settings(stack).secrets
    writer = SigningSecretStore(settings=stack)
    a, b = reader.for_site("site-a", now=NOW), reader.for_site("site-b", now=NOW)
    assert len(a) == len(b) == 1
    assert a[0].secret_id != b[0].secret_id and a[0].value != b[0].value
    assert [(s.secret_id, s.value) for s in writer.for_site("site-a", now=NOW)] == [
        (a[0].secret_id, a[0].value)
    ]
    assert _stored(stack) == [], "a seed is derived, never stored before the first rotation"
    master = stack.url_signing_secret.get_secret_value()
    assert master not in {a[0].value, b[0].value}


def test_a_rotation_touches_only_its_site_and_keeps_the_old_key_for_the_grace(
    stack: ServiceSettings,
) -> None:
    store = SigningSecretStore(settings=stack)
    seed_a = store.for_site("site-a", now=NOW)[0]
    seed_b = store.for_site("site-b", now=NOW)[0]
    fresh = store.rotate("site-a", now=NOW, grace=timedelta(hours=1))
    assert [s.secret_id for s in store.for_site("site-a", now=NOW)] == [
        fresh.secret_id,
        seed_a.secret_id,
    ]
    assert store.for_site("site-b", now=NOW) == [seed_b]
    later = NOW + timedelta(hours=1, seconds=1)
    assert [s.secret_id for s in store.for_site("site-a", now=later)] == [fresh.secret_id]
    # Rotated once, the site never falls back to its derived seed.
    assert seed_a.secret_id not in [s.secret_id for s in store.for_site("site-a", now=later)]


def test_revoking_a_site_drops_its_old_keys_at_once(stack: ServiceSettings) -> None:
    store = SigningSecretStore(settings=stack)
    first = store.rotate("site-a", now=NOW)
    second = store.rotate("site-a", now=NOW + timedelta(minutes=1), grace=timedelta(0))
    at = NOW + timedelta(minutes=1)
    assert [s.secret_id for s in store.for_site("site-a", now=at)] == [second.secret_id]
    assert first.secret_id in _stored(stack), "kept (expired) until the next rotation's sweep"
    assert store.for_site("site-b", now=at)[0].secret_id.startswith("s0"), "site-b untouched"


def test_a_site_accepts_at_most_four_keys_and_long_expired_ones_are_deleted(
    stack: ServiceSettings,
) -> None:
    store = SigningSecretStore(settings=stack)
    for minute in range(6):
        store.rotate("site-a", now=NOW + timedelta(minutes=minute))
    assert len(store.for_site("site-a", now=NOW + timedelta(minutes=6))) == MAX_ACCEPTED
    weeks_later = NOW + timedelta(days=30)
    newest = store.rotate("site-a", now=weeks_later)
    left = [s for s in store.stored() if s.site_id == "site-a"]
    assert {s.secret_id for s in left} == {newest.secret_id} | {
        s.secret_id for s in left if s.not_after == weeks_later + timedelta(days=3, hours=1)
    }
    assert all(s.not_after is None or s.not_after > weeks_later - timedelta(days=7) for s in left)


def test_no_master_secret_is_a_clear_error(stack: ServiceSettings) -> None:
    store = SigningSecretStore(
        settings=stack.model_copy(update={"url_signing_secret": SecretStr("short")})
    )
    with pytest.raises(Unavailable, match="EDGEFILL_URL_SIGNING_SECRET"):
        store.for_site("site-a", now=NOW)


def test_a_fleet_wide_secret_of_an_older_release_is_not_read(stack: ServiceSettings) -> None:
    table = dynamodb_table(stack, SIGNING_SECRETS)
    table.put_item(
        Item={
            "secret_id": "s-old-fleet",
            "doc": '{"secret_id": "s-old-fleet", "value": "'
            + "v" * 20
            + '", "created_at": "2026-01-01T00:00:00Z"}',
            "revision": 1,
        }
    )
    store = SigningSecretStore(settings=stack)
    assert "s-old-fleet" in [s.secret_id for s in store.stored()], "it parses"
    (only,) = store.for_site("site-a", now=NOW)
    assert only.secret_id.startswith("s0"), "the site's derived seed, not the fleet-wide secret"
