"""Steering from the real fleet through the steering snapshot: the job's pass, the snapshot in
S3, playback's cache of it; health gating, secret rotation, refresh, age and failures."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from control_plane.placement.manifest_job import write_due_manifests
from control_plane.signing.key_store import StoredSigningSecret
from control_plane.steering import FleetView, rank_appliances, snapshot_job
from control_plane.steering.rank import ApplianceRanking
from control_plane.steering.snapshot_cache import SteeringSnapshotCache
from control_plane.steering.snapshot_job import SnapshotCompiler, publish_once
from control_plane.steering.snapshot_store import SnapshotNotModified, SteeringSnapshotStore
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.holdings import encode_held_units, unit_order
from edgefill_contracts.manifest import Manifest
from tests.integration.fleet.support import FleetHarness
from tests.integration.fleet.test_fleet_manifests import _units


class Steering:
    """The snapshot job's pass and playback's cache, against the harness's fleet."""

    def __init__(self, fleet: FleetHarness) -> None:
        self.fleet = fleet
        self.store = SteeringSnapshotStore(settings=fleet.settings)
        self.compiler = SnapshotCompiler()
        self.cache = SteeringSnapshotCache(settings=fleet.settings, clock=fleet.clock)

    def publish(self) -> list[str]:
        _, written = publish_once(
            reads=self.fleet.context,
            store=self.store,
            compiler=self.compiler,
            now=self.fleet.clock.now,
        )
        return written

    def current(self) -> FleetView:
        """What playback steers from once the job ran and the cache looked."""
        self.publish()
        self.cache.refresh()
        return self.cache.current()


def _steer(
    fleet: FleetHarness, cache: Steering, client_ip: str = "198.51.100.9"
) -> ApplianceRanking:
    return _decide(fleet, cache.current(), client_ip)


def _decide(fleet: FleetHarness, view: FleetView, client_ip: str) -> ApplianceRanking:
    return rank_appliances(
        view=view, client_ip=client_ip, units=("title-000/720p",), session_id="s1"
    )


def _ids(ranking: ApplianceRanking) -> list[str]:
    return [r.appliance.appliance_id for r in ranking.appliances]


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
    cache = Steering(fleet)
    assert _steer(fleet, cache).appliances == (), "no heartbeat yet: not healthy, holds nothing"

    old_ids = fleet.heartbeat("ams-a", auth)["signing_secret_ids"]
    for _ in range(2):
        fleet.clock.advance(10)
        _serve(fleet, "ams-a", auth, old_ids)
    decision = _steer(fleet, cache)
    assert decision.client_site_id == "ams-1"
    assert _ids(decision) == ["ams-a"]
    assert decision.appliances[0].appliance.base_url == "https://ams-a.example.net:8443"
    assert decision.appliances[0].key.secret_id == old_ids[0]
    assert _ids(_steer(fleet, cache, "2001:db8:1::5")) == ["ams-a"]

    # Rotation: until the appliance reports the new secret, URLs keep using the old one.
    rotated = fleet.client.post(
        "/fleet/v1/admin/sites/ams-1/signing-secrets/rotate", headers=fleet.admin
    )
    new_id = rotated.json()["secret_id"]
    fleet.clock.advance(10)
    _serve(fleet, "ams-a", auth, old_ids)
    assert _steer(fleet, cache).appliances[0].key.secret_id == old_ids[0]
    secrets = fleet.client.get("/fleet/v1/appliances/ams-a/signing-secrets", headers=auth).json()
    by_id = {s["secret_id"]: s["secret"] for s in secrets["secrets"]}
    assert set(by_id) == {new_id, *old_ids}
    fleet.clock.advance(10)
    _serve(fleet, "ams-a", auth, [new_id, *old_ids])
    key = _steer(fleet, cache).appliances[0].key
    assert key.secret_id == new_id
    assert key.secret.get_secret_value() == by_id[new_id], "signed with what the appliance holds"

    # Draining takes it out of steering at once; silence makes it unhealthy after K intervals.
    fleet.client.post("/fleet/v1/admin/appliances/ams-a/drain", json={}, headers=fleet.admin)
    assert _steer(fleet, cache).appliances == ()
    fleet.client.post("/fleet/v1/admin/appliances/ams-a/undrain", json={}, headers=fleet.admin)
    assert _steer(fleet, cache).appliances != ()
    fleet.clock.advance(10)  # one missed heartbeat: still steered to
    assert _steer(fleet, cache).appliances != ()
    fleet.clock.advance(30)
    assert _steer(fleet, cache).appliances == ()


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
    cache = Steering(fleet)
    view = cache.current()
    assert view.eligible_appliances("ams-1"), "healthy and Serving"
    assert _steer(fleet, cache).appliances == ()


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
    cache = Steering(fleet)
    assert _ids(_steer(fleet, cache)) == ["a1"]
    assert cache.current().holders_in_site("ams-1", "title-001/720p") == ()


def test_a_bitmap_that_does_not_fit_the_manifest_holds_nothing(fleet: FleetHarness) -> None:
    def held(manifest: Manifest) -> HeldDigest:
        too_long = tuple(f"t{n}/x" for n in range(64))  # not this manifest's 3 units
        return HeldDigest(
            manifest_version=manifest.version, held_units=encode_held_units(too_long, too_long)
        )

    _holder_heartbeats(fleet, held)
    cache = Steering(fleet)
    assert cache.current().eligible_appliances("ams-1"), "healthy and Serving"
    assert _steer(fleet, cache).appliances == ()


def _cache(fleet: FleetHarness, **settings: float) -> SteeringSnapshotCache:
    return SteeringSnapshotCache(
        settings=fleet.settings.model_copy(update=settings), clock=fleet.clock
    )


def test_a_pass_writes_only_the_sections_that_changed(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    steering = Steering(fleet)
    assert sorted(steering.publish()) == ["fleet", "holdings", "prefixes"]
    fleet.clock.advance(10)
    assert steering.publish() == [], "nothing changed: only the pointer's checked_at moves"
    pointer = steering.store.pointer()
    assert pointer is not None and pointer[0].checked_at == fleet.clock.now
    fleet.put_site("rtm-1", isp="isp-2", prefixes=["203.0.113.0/24"])
    assert sorted(steering.publish()) == ["fleet", "prefixes"]


def test_the_cache_refreshes_by_interval_and_reuses_what_did_not_change(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    steering = Steering(fleet)
    steering.publish()
    cache = _cache(fleet, fleet_view_ttl_s=30)
    first = cache.current()
    assert first.site_for("198.51.100.7") == first.site("ams-1")

    fleet.clock.advance(10)
    steering.publish()  # checked_at only
    fleet.put_site("rtm-1", isp="isp-2", prefixes=["203.0.113.0/24"])
    assert cache.current() is first, "within the refresh interval the view stays"
    fleet.clock.advance(25)
    assert cache.current() is first, "the pointer moved on but no section changed"

    steering.publish()
    fleet.clock.advance(31)
    second = cache.current()
    assert second is not first
    assert second.site_for("203.0.113.7") == second.site("rtm-1")
    assert second.prefix_index is not first.prefix_index, "prefixes changed: table reloaded"

    fleet.put_cluster("rtm-1-c1", "rtm-1")
    fleet.put_appliance("rtm-a", site_id="rtm-1", cluster_id="rtm-1-c1", budget=1000)
    fleet.register("rtm-a")
    steering.publish()
    fleet.clock.advance(31)
    third = cache.current()
    assert third.prefix_index is second.prefix_index, "same prefixes: the table is kept"


def test_past_its_max_age_the_snapshot_sends_every_client_to_the_origin(
    fleet: FleetHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = Steering(fleet)
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=100_000)
    auth = fleet.register("a1")
    write_due_manifests(context=fleet.context, units=_units(3), now=fleet.clock.now)
    secret_ids = fleet.heartbeat("a1", auth)["signing_secret_ids"]
    fleet.clock.advance(10)
    _serve(fleet, "a1", auth, secret_ids)
    assert _ids(_steer(fleet, cache)) == ["a1"]

    # The job stops; the appliance keeps heartbeating, so only the snapshot's age is at fault.
    max_age = fleet.settings.steering_snapshot_max_age_s
    fleet.clock.advance(max_age + 1)
    _serve(fleet, "a1", auth, secret_ids)
    cache.cache.refresh()
    view = cache.cache.current()
    assert view.site_for("198.51.100.9") is None
    stale = _decide(fleet, view, "198.51.100.9")
    assert stale.appliances == () and stale.client_site_id is None
    metrics = [line for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert '"SteeringSnapshotStale":1' in metrics[-1]
    assert f'"SteeringSnapshotAge":{max_age + 1}' in metrics[-1]

    # The job runs again: steering trusts the snapshot again at the next refresh (once the
    # appliance, silent for as long in the harness's clock, is healthy again).
    fleet.clock.advance(10)
    _serve(fleet, "a1", auth, secret_ids)
    assert _ids(_steer(fleet, cache)) == ["a1"]


def test_a_cold_container_without_a_snapshot_goes_to_the_origin_and_retries(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    cache = _cache(fleet, fleet_view_ttl_s=30)
    assert cache.current().site_for("198.51.100.9") is None, "never published"
    Steering(fleet).publish()
    assert cache.current().site_for("198.51.100.9") is None, "retry not due yet"
    fleet.clock.advance(6)
    assert cache.current().site_for("198.51.100.9") is not None, "retried after 5 s"


def test_a_failed_refresh_keeps_the_current_view(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    steering = Steering(fleet)
    steering.publish()
    cache = _cache(fleet, fleet_view_ttl_s=1)
    first = cache.current()

    def broken(**_: object) -> None:
        raise RuntimeError("S3 is down")

    fleet.clock.advance(5)
    monkeypatch.setattr(cache._store, "pointer", broken)
    assert cache.current() is first
    monkeypatch.undo()

    # A section that does not match the pointer's sha256 is refused the same way.
    fleet.put_site("rtm-1", isp="isp-2", prefixes=["203.0.113.0/24"])
    steering.publish()
    pointer, _ = steering.store.pointer() or (None, None)
    assert pointer is not None
    steering.store._client.put_object(
        Bucket=fleet.settings.manifest_bucket, Key=pointer.prefixes.key, Body=b"not the table"
    )
    fleet.clock.advance(5)
    assert cache.current() is first


def test_a_cold_container_whose_snapshot_is_unreadable_goes_to_the_origin(
    fleet: FleetHarness,
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    steering = Steering(fleet)
    pointer, _ = steering.store.publish(
        fleet=b"not gzip",
        holdings=b"nor this",
        prefixes=b"nor that",
        prefix_count=0,
        checked_at=fleet.clock.now,
        previous=None,
    )
    assert pointer.fleet.size == len(b"not gzip")
    view = _cache(fleet).current()
    assert view.site_for("198.51.100.9") is None and not view.sites


def test_sections_no_pointer_names_are_swept_after_an_hour(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    steering = Steering(fleet)
    steering.publish()
    first = steering.store.pointer()
    assert first is not None
    fleet.put_site("ams-1", prefixes=["198.51.101.0/24"])
    steering.publish()
    client, bucket = steering.store._client, fleet.settings.manifest_bucket

    def keys() -> set[str]:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="steering/prefixes/")
        return {o["Key"] for o in listed.get("Contents", [])}

    assert first[0].prefixes.key in keys(), "kept: a reader may still fetch it"
    current = steering.store.pointer()
    assert current is not None
    # S3's LastModified is the real time, not the harness's clock.
    assert steering.store.sweep(current[0], now=datetime.now(UTC) + timedelta(hours=2)) == 1
    assert keys() == {current[0].prefixes.key}


def test_one_invocation_compiles_every_interval_and_survives_a_failed_pass(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    settings = fleet.settings.model_copy(
        update={"steering_snapshot_interval_s": 0.01, "steering_snapshot_run_s": 0.5}
    )
    real_publish = snapshot_job.publish_once
    calls = 0

    def flaky(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("DynamoDB throttled the scan")
        return real_publish(**kwargs)

    monkeypatch.setattr(snapshot_job, "publish_once", flaky)
    result = snapshot_job.run(settings, clock=fleet.clock, reads=fleet.context)
    assert result["failed"] == 1 and result["passes"] >= 3
    assert result["changed"] == 1, "the first good pass wrote; the rest only moved the pointer"
    assert SteeringSnapshotStore(settings=settings).pointer() is not None


def test_an_invocation_whose_every_pass_fails_fails(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> Any:
        raise RuntimeError("S3 refused the write")

    monkeypatch.setattr(snapshot_job, "publish_once", broken)
    settings = fleet.settings.model_copy(update={"steering_snapshot_run_s": 0})
    with pytest.raises(RuntimeError, match="S3 refused"):
        snapshot_job.run(settings, clock=fleet.clock, reads=fleet.context)


class SecretsSeenLate:
    """A playback container's key cache that has not seen the newest secret until it rereads
    the store (`invalidate`), or never when `ever` is False."""

    def __init__(self, fleet: FleetHarness, *, ever: bool) -> None:
        self._fleet = fleet
        self._ever = ever
        self.invalidated = 0

    def key_sets(
        self, site_ids: Iterable[str], *, now: datetime
    ) -> dict[str, list[StoredSigningSecret]]:
        found = self._fleet.context.secrets.key_sets(site_ids, now=now)
        if self._ever and self.invalidated:
            return found
        return {site_id: keys[1:] for site_id, keys in found.items()}

    def invalidate(self) -> None:
        self.invalidated += 1


def _served_after_rotation(fleet: FleetHarness) -> Steering:
    """One appliance that accepts only a secret rotated in after its first heartbeats."""
    steering = Steering(fleet)
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1", budget=100_000)
    auth = fleet.register("a1")
    write_due_manifests(context=fleet.context, units=_units(3), now=fleet.clock.now)
    fleet.heartbeat("a1", auth)
    rotated = fleet.client.post(
        "/fleet/v1/admin/sites/ams-1/signing-secrets/rotate", headers=fleet.admin
    )
    for _ in range(2):
        fleet.clock.advance(10)
        _serve(fleet, "a1", auth, [rotated.json()["secret_id"]])
    steering.publish()
    return steering


@pytest.mark.parametrize("ever", [True, False], ids=["reread", "never-seen"])
def test_a_key_the_container_has_not_seen_is_reread_once_else_its_site_is_skipped(
    fleet: FleetHarness, ever: bool
) -> None:
    _served_after_rotation(fleet)
    secrets = SecretsSeenLate(fleet, ever=ever)
    cache = SteeringSnapshotCache(
        settings=fleet.settings,
        clock=fleet.clock,
        secrets=secrets,  # type: ignore[arg-type]
    )
    decision = _decide(fleet, cache.current(), "198.51.100.9")
    assert secrets.invalidated == 1, "the store is read again at once, not after a minute"
    assert _ids(decision) == (["a1"] if ever else [])


def test_an_unchanged_pointer_is_a_304_that_keeps_the_view_without_a_download(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    Steering(fleet).publish()
    cache = _cache(fleet, fleet_view_ttl_s=1)
    first = cache.current()

    def no_download(ref: object) -> bytes:
        raise AssertionError("an unchanged pointer downloads no section")

    answers: list[str] = []
    real_pointer = cache._store.pointer

    def pointer(**kwargs: Any) -> Any:
        try:
            return real_pointer(**kwargs)
        except SnapshotNotModified:
            answers.append("304")
            raise

    monkeypatch.setattr(cache._store, "section", no_download)
    monkeypatch.setattr(cache._store, "pointer", pointer)
    fleet.clock.advance(2)
    with caplog.at_level("WARNING"):
        assert cache.current() is first
    assert answers == ["304"], "asked with the ETag it holds; S3 said not modified"
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def test_an_appliance_that_never_takes_its_sites_new_key_leaves_steering_alone(
    fleet: FleetHarness,
) -> None:
    """Per-site keys: a rotation reaches only its site; a laggard that still holds only the
    expired key is left out after the grace, and its site stays in steering with the new key."""
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_site("fra-1", prefixes=["203.0.113.0/24"])
    fleet.put_cluster("c1", "ams-1")
    fleet.put_cluster("c2", "fra-1")
    for appliance_id, site, cluster in (("a1", "ams-1", "c1"), ("a2", "ams-1", "c1")):
        fleet.put_appliance(appliance_id, site_id=site, cluster_id=cluster, budget=100_000)
    fleet.put_appliance("f1", site_id="fra-1", cluster_id="c2", budget=100_000)
    auth = {a: fleet.register(a) for a in ("a1", "a2", "f1")}
    write_due_manifests(context=fleet.context, units=_units(3), now=fleet.clock.now)
    acks = {a: fleet.heartbeat(a, auth[a])["signing_secret_ids"] for a in auth}
    assert acks["a1"] == acks["a2"] != acks["f1"], "each site has its own key"
    old_ids = acks["a1"]
    steering = Steering(fleet)

    rotated = fleet.client.post(
        "/fleet/v1/admin/sites/ams-1/signing-secrets/rotate",
        params={"grace_s": 60},
        headers=fleet.admin,
    )
    assert rotated.status_code == 200, rotated.text
    new_id = rotated.json()["secret_id"]
    assert fleet.heartbeat("f1", auth["f1"])["signing_secret_ids"] == acks["f1"], "fra-1 untouched"
    fetched = fleet.client.get("/fleet/v1/appliances/f1/signing-secrets", headers=auth["f1"])
    assert new_id not in {s["secret_id"] for s in fetched.json()["secrets"]}

    for _ in range(2):
        fleet.clock.advance(10)
        _serve(fleet, "a1", auth["a1"], [new_id, *old_ids])
        _serve(fleet, "a2", auth["a2"], old_ids)  # never fetches the new key
    ranking = _steer(fleet, steering)
    assert sorted(_ids(ranking)) == ["a1", "a2"]
    assert {r.key.secret_id for r in ranking.appliances} == set(old_ids), "a2 holds the site back"

    for _ in range(5):  # past the 60 s grace: the old key has expired
        fleet.clock.advance(10)
        _serve(fleet, "a1", auth["a1"], [new_id, *old_ids])
        _serve(fleet, "a2", auth["a2"], old_ids)
    ranking = _steer(fleet, steering)
    assert _ids(ranking) == ["a1"], "only the laggard is out of steering, not its site"
    assert ranking.appliances[0].key.secret_id == new_id


def test_rotating_a_site_names_a_known_site_and_a_grace_in_range(fleet: FleetHarness) -> None:
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    url = "/fleet/v1/admin/sites/{}/signing-secrets/rotate"
    unknown = fleet.client.post(url.format("nowhere"), headers=fleet.admin)
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["message"]
    too_long = fleet.client.post(
        url.format("ams-1"), params={"grace_s": 8 * 86400}, headers=fleet.admin
    )
    assert too_long.status_code == 422
    assert fleet.context.secrets.stored() == [], "a refused rotation writes nothing"
    revoked = fleet.client.post(url.format("ams-1"), params={"grace_s": 0}, headers=fleet.admin)
    assert revoked.status_code == 200
    active = fleet.context.secrets.for_site("ams-1", now=fleet.clock.now)
    assert [s.secret_id for s in active] == [revoked.json()["secret_id"]], "the seed is revoked"
