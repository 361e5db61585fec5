"""The key set's seed: derived from the settings, stored only by the fleet service's store."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.common.aws import dynamodb_table
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.reads import FleetReads
from control_plane.signing.key_store import SigningSecretStore
from control_plane.signing.tables import SIGNING_SECRETS

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _stored(settings: ServiceSettings) -> list[str]:
    table = dynamodb_table(settings, SIGNING_SECRETS)
    return sorted(str(item["secret_id"]) for item in table.scan()["Items"])


def test_a_reader_answers_the_seed_without_writing_and_the_fleet_stores_the_same(
    stack: ServiceSettings,
) -> None:
    reader = FleetReads.from_settings(stack).secrets
    seen = reader.active(now=NOW)
    assert len(seen) == 1 and _stored(stack) == [], "a reader (playback's role) never writes"
    stored = SigningSecretStore(settings=stack).active(now=NOW)
    assert [(s.secret_id, s.value) for s in stored] == [(s.secret_id, s.value) for s in seen]
    assert _stored(stack) == [seen[0].secret_id]
    assert reader.active(now=NOW) == stored
