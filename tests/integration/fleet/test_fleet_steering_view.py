"""Steering from the real fleet tables: the view loader, health gating and secret rotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from control_plane.placement.manifest_job import write_due_manifests
from control_plane.steering import FleetViewCache, SteeringDecision, rank_sources
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.holdings import encode_held_units, unit_order
from edgefill_contracts.manifest import Manifest
from edgefill_contracts.signing import compute_token, parse_signed_path
from tests.integration.fleet.support import FleetHarness
from tests.integration.fleet.test_fleet_manifests import _units


def _origin(*, key: str, expires_at: datetime) -> str:
    return f"https://origin.example.net/{key}?expires={int(expires_at.timestamp())}"


def _steer(
    fleet: FleetHarness, cache: FleetViewCache, client_ip: str = "198.51.100.9"
) -> SteeringDecision:
    return rank_sources(
        view=cache.current(),
        client_ip=client_ip,
        title_id="title-000",
        rendition="720p",
        origin_key="title-000/720p/index.m3u8",
        session_id="s1",
        now=fleet.clock.now,
        ttl=timedelta(hours=1),
        origin=_origin,
    )


def _serve(
    fleet: FleetHarness, appliance_id: str, auth: dict[str, str], secret_ids: list[str]
) -> None:
    manifest = fleet.manifest(appliance_id, auth)
    fleet.heartbeat(
        appliance_id,
        auth,
        held=HeldDigest(manifest_version=manifest.version),
        accepted_secret_ids=secret_ids,
    )


def test_steering_sends_clients_to_healthy_holders_with_a_secret_they_accept(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24", "2001:db8:1::/48"])
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_appliance("ams-a", site_id="ams-1", cluster_id="ams-1-c1", budget=100_000)
    auth = fleet.register("ams-a")
    write_due_manifests(context=fleet.context, units=_units(3), now=fleet.clock.now)
    cache = FleetViewCache(
        settings=fleet.settings, ttl=timedelta(0), clock=fleet.clock, context=fleet.context
    )
    assert _steer(fleet, cache).urls == (), "no heartbeat yet: not healthy, holds nothing"

    old_ids = fleet.heartbeat("ams-a", auth)["signing_secret_ids"]
    for _ in range(2):
        fleet.clock.advance(10)
        _serve(fleet, "ams-a", auth, old_ids)
    decision = _steer(fleet, cache)
    assert decision.client_site_id == "ams-1"
    assert [u.appliance_id for u in decision.urls] == ["ams-a"]
    assert decision.urls[0].url.startswith(f"https://ams-a.example.net:8443/t/{old_ids[0]}/")
    assert _steer(fleet, cache, "2001:db8:1::5").urls[0].appliance_id == "ams-a"

    # Rotation: until the appliance reports the new secret, URLs keep using the old one.
    rotated = fleet.client.post("/fleet/v1/admin/signing-secrets/rotate", headers=fleet.admin)
    new_id = rotated.json()["secret_id"]
    fleet.clock.advance(10)
    _serve(fleet, "ams-a", auth, old_ids)
    assert f"/t/{old_ids[0]}/" in _steer(fleet, cache).urls[0].url
    secrets = fleet.client.get("/fleet/v1/appliances/ams-a/signing-secrets", headers=auth).json()
    by_id = {s["secret_id"]: s["secret"] for s in secrets["secrets"]}
    assert set(by_id) == {new_id, *old_ids}
    fleet.clock.advance(10)
    _serve(fleet, "ams-a", auth, [new_id, *old_ids])
    url = _steer(fleet, cache).urls[0].url
    signed = parse_signed_path(url.split(":8443", 1)[1] + "720p/index.m3u8")
    assert signed.secret_id == new_id
    assert signed.token == compute_token(
        secret=by_id[new_id], title="title-000", expires=signed.expires
    )

    # Draining takes it out of steering at once; silence makes it unhealthy after K intervals.
    fleet.client.post("/fleet/v1/admin/appliances/ams-a/drain", json={}, headers=fleet.admin)
    assert _steer(fleet, cache).urls == ()
    fleet.client.post("/fleet/v1/admin/appliances/ams-a/undrain", json={}, headers=fleet.admin)
    assert _steer(fleet, cache).urls != ()
    fleet.clock.advance(10)  # one missed heartbeat: still steered to
    assert _steer(fleet, cache).urls != ()
    fleet.clock.advance(30)
    assert _steer(fleet, cache).urls == ()


def test_the_cache_keeps_its_view_within_the_ttl(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1")
    cache = FleetViewCache(
        settings=fleet.settings, ttl=timedelta(seconds=30), clock=fleet.clock, context=fleet.context
    )
    first = cache.current()
    fleet.put_site("rtm-1", prefixes=["203.0.113.0/24"])
    assert cache.current() is first
    fleet.clock.advance(31)
    second = cache.current()
    assert second is not first
    assert second.site("rtm-1") is not None
    assert second.site_for("203.0.113.7") == second.site("rtm-1")
    assert second.prefix_index is not first.prefix_index, "prefixes changed: trie rebuilt"
    fleet.clock.advance(31)
    third = cache.current()
    assert third is not second
    assert third.prefix_index is second.prefix_index, "same prefixes: trie reused"


def test_a_failed_refresh_keeps_the_previous_view(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.put_site("ams-1")
    cache = FleetViewCache(
        settings=fleet.settings, ttl=timedelta(seconds=1), clock=fleet.clock, context=fleet.context
    )
    first = cache.current()
    fleet.clock.advance(5)

    def broken(now: datetime) -> None:
        raise RuntimeError("DynamoDB is down")

    monkeypatch.setattr(cache, "_build", broken)
    assert cache.current() is first


@pytest.mark.parametrize(
    "held",
    [
        HeldDigest(manifest_version="m404"),
        HeldDigest(manifest_version="../../etc"),
        None,
    ],
    ids=["unknown-version", "hostile-version", "truncated-missing-list"],
)
def test_holdings_that_cannot_be_verified_are_not_steered_to(
    fleet: FleetHarness, held: HeldDigest | None
) -> None:
    _holder_heartbeats(
        fleet,
        lambda manifest: (
            held or HeldDigest(manifest_version=manifest.version, missing_truncated=True)
        ),
    )
    cache = FleetViewCache(settings=fleet.settings, clock=fleet.clock, context=fleet.context)
    view = cache.current()
    assert view.eligible_appliances("ams-1"), "healthy and Serving"
    assert _steer(fleet, cache).urls == ()


def _holder_heartbeats(fleet: FleetHarness, held_for: Callable[[Manifest], HeldDigest]) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=100_000)
    auth = fleet.register("a1")
    write_due_manifests(context=fleet.context, units=_units(3), now=fleet.clock.now)
    manifest = fleet.manifest("a1", auth)
    secret_ids = fleet.heartbeat("a1", auth)["signing_secret_ids"]
    for _ in range(2):
        fleet.clock.advance(10)
        fleet.heartbeat("a1", auth, held=held_for(manifest), accepted_secret_ids=secret_ids)


def test_a_held_units_bitmap_is_exact_past_the_missing_keys_limit(fleet: FleetHarness) -> None:
    # The old rule: more missing keys than fit -> holds nothing. The bitmap says exactly what
    # is held, so a long fill no longer takes the appliance out of steering.
    def held(manifest: Manifest) -> HeldDigest:
        order = unit_order(manifest)
        return HeldDigest(
            manifest_version=manifest.version,
            held_units=encode_held_units(order, {"title-000/720p"}),
            missing_truncated=True,
        )

    _holder_heartbeats(fleet, held)
    cache = FleetViewCache(settings=fleet.settings, clock=fleet.clock, context=fleet.context)
    assert [u.appliance_id for u in _steer(fleet, cache).urls] == ["a1"]
    assert cache.current().holders_by_site("title-001/720p") == {}


def test_a_bitmap_that_does_not_fit_the_manifest_holds_nothing(fleet: FleetHarness) -> None:
    def held(manifest: Manifest) -> HeldDigest:
        too_long = tuple(f"t{n}/x" for n in range(64))  # not this manifest's 3 units
        return HeldDigest(
            manifest_version=manifest.version, held_units=encode_held_units(too_long, too_long)
        )

    _holder_heartbeats(fleet, held)
    cache = FleetViewCache(settings=fleet.settings, clock=fleet.clock, context=fleet.context)
    assert cache.current().eligible_appliances("ams-1"), "healthy and Serving"
    assert _steer(fleet, cache).urls == ()
