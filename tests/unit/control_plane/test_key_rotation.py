"""The scheduled key rotation: due sites only, a grace no URL outlives, one failure contained."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance_agent.serve.settings import ServeSettings
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.key_rotation import ROTATE_EVERY, rotate_due
from control_plane.signing.key_store import DEFAULT_GRACE, SigningSecretStore

NOW = datetime(2026, 12, 7, 3, 30, tzinfo=UTC)
SITES = ["ams-1", "fra-1", "lon-1"]


def _ids(store: SigningSecretStore, site_id: str, at: datetime) -> list[str]:
    return [s.secret_id for s in store.for_site(site_id, now=at)]


def test_every_site_leaves_its_derived_seed_then_rotates_on_its_age(stack: ServiceSettings) -> None:
    store = SigningSecretStore(settings=stack)
    seeds = {site: _ids(store, site, NOW) for site in SITES}
    first = rotate_due(secrets=store, site_ids=SITES, now=NOW)
    assert first == {"rotated": SITES, "not_due": 0, "failed": {}}
    for site in SITES:
        ids = _ids(store, site, NOW)
        assert len(ids) == 2 and ids[1:] == seeds[site], "the seed stays accepted for the grace"
        assert _ids(store, site, NOW + DEFAULT_GRACE)[1:] == [], "then it is gone"
    edge = ServeSettings()  # the longest URL an appliance accepts
    longest = max(edge.fill_url_max_lifetime_s, edge.playback_url_max_lifetime_s)
    assert timedelta(seconds=longest) < DEFAULT_GRACE, "no URL outlives a scheduled grace"

    next_day = rotate_due(secrets=store, site_ids=SITES, now=NOW + timedelta(days=1))
    assert next_day == {"rotated": [], "not_due": 3, "failed": {}}
    due = rotate_due(secrets=store, site_ids=SITES, now=NOW + ROTATE_EVERY)
    assert due["rotated"] == SITES


def test_one_site_that_fails_stops_no_other(
    stack: ServiceSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SigningSecretStore(settings=stack)
    rotate = store.rotate

    def failing(site_id: str, **kwargs: object) -> object:
        if site_id == "fra-1":
            raise RuntimeError("throttled")
        return rotate(site_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "rotate", failing)
    result = rotate_due(secrets=store, site_ids=SITES, now=NOW)
    assert result["rotated"] == ["ams-1", "lon-1"]
    assert result["failed"] == {"fra-1": "RuntimeError: throttled"}
    assert len(_ids(store, "fra-1", NOW)) == 1, "fra-1 keeps its seed and is due next run"
