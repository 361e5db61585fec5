"""The manifest job against moto: placement onto a cluster, ranked sources, ETag serving."""

from __future__ import annotations

import hashlib

import boto3
import httpx
import pytest

from control_plane.catalog.units import CatalogUnit, UnitFile
from control_plane.manifests.store import ManifestStore
from control_plane.placement import manifest_job
from control_plane.placement.manifest_job import write_due_manifests
from edgefill_contracts.fleet_api import OriginUrls
from edgefill_contracts.heartbeat import HeldDigest
from tests.integration.fleet.support import FleetHarness


def _units(count: int) -> list[CatalogUnit]:
    units = []
    for i in range(count):
        files = tuple(
            UnitFile(
                key=f"title-{i:03d}/720p/{name}",
                size=1000,
                sha256=hashlib.sha256(f"{i}{name}".encode()).hexdigest(),
            )
            for name in ("index.m3u8", "seg_00001.ts")
        )
        units.append(CatalogUnit(unit_id=f"title-{i:03d}/720p", files=files))
    return units


def _build_fleet(fleet: FleetHarness) -> dict[str, dict[str, str]]:
    fleet.put_site("ams-1", isp="isp-a", prefixes=["198.51.100.0/24"])
    fleet.put_site("rtm-1", isp="isp-a", prefixes=["203.0.113.0/24"])
    fleet.put_cluster("ams-1-c1", "ams-1")
    fleet.put_cluster("rtm-1-c1", "rtm-1")
    auths = {}
    for appliance_id, site, cluster in (
        ("ams-a", "ams-1", "ams-1-c1"),
        ("ams-b", "ams-1", "ams-1-c1"),
        ("rtm-a", "rtm-1", "rtm-1-c1"),
    ):
        fleet.put_appliance(appliance_id, site_id=site, cluster_id=cluster, budget=20_000)
        auths[appliance_id] = fleet.register(appliance_id)
    return auths


def test_manifests_are_written_served_with_etag_and_304(fleet: FleetHarness) -> None:
    auths = _build_fleet(fleet)
    result = write_due_manifests(context=fleet.context, units=_units(12), now=fleet.clock.now)
    assert result["written"] == 3

    response = fleet.client.get("/fleet/v1/appliances/ams-a/manifest", headers=auths["ams-a"])
    assert response.status_code == 200
    assert len(response.content) < 4_096, "the fleet API hands out a location, not the manifest"
    manifest = fleet.manifest("ams-a", auths["ams-a"])
    assert response.headers["ETag"] == f'"{manifest.version}"'
    assert 0 < manifest.total_bytes <= 20_000
    table = manifest.header.sources
    assert all(table[entry.sources[-1]].kind == "origin" for entry in manifest.entries())

    cached = fleet.client.get(
        "/fleet/v1/appliances/ams-a/manifest",
        headers={**auths["ams-a"], "If-None-Match": response.headers["ETag"]},
    )
    assert cached.status_code == 304
    stale = fleet.client.get(
        "/fleet/v1/appliances/ams-a/manifest",
        headers={**auths["ams-a"], "If-None-Match": '"m0000"'},
    )
    assert stale.status_code == 200

    again = write_due_manifests(
        context=fleet.context, units=_units(12), now=fleet.clock.now, force=True
    )
    assert again == {"written": 0, "unchanged": 3, "sites": ["ams-1", "rtm-1"], "failed": {}}


def test_sources_rank_cluster_peers_then_other_clusters_then_origin(fleet: FleetHarness) -> None:
    auths = _build_fleet(fleet)
    units = _units(12)
    write_due_manifests(context=fleet.context, units=units, now=fleet.clock.now)
    # Every appliance applies its manifest and reports holding all of it, twice (healthy).
    applied = {
        appliance_id: fleet.manifest(appliance_id, auth) for appliance_id, auth in auths.items()
    }
    secret_ids = fleet.heartbeat("ams-a", auths["ams-a"])["signing_secret_ids"]
    for _ in range(2):
        fleet.clock.advance(10)
        for appliance_id, auth in auths.items():
            fleet.heartbeat(
                appliance_id,
                auth,
                held=HeldDigest(manifest_version=applied[appliance_id].version),
                accepted_secret_ids=secret_ids,
            )

    # A new appliance joins ams-1's cluster: its sources are peers first, then rtm-a, then origin.
    fleet.put_appliance("ams-c", site_id="ams-1", cluster_id="ams-1-c1", budget=20_000)
    new_auth = fleet.register("ams-c")
    write_due_manifests(context=fleet.context, units=units, now=fleet.clock.now)
    manifest = fleet.manifest("ams-c", new_auth)
    assert manifest.header.file_count, "the new appliance got nothing placed on it"
    held_by = {appliance_id: set(m.units()) for appliance_id, m in applied.items()}
    table = manifest.header.sources
    for entry in manifest.entries():
        names = [table[i].name for i in entry.sources]
        expected_peers = sorted(a for a in ("ams-a", "ams-b") if entry.unit in held_by[a])
        expected_tier = ["rtm-a"] if entry.unit in held_by["rtm-a"] else []
        assert sorted(names[: len(expected_peers)]) == expected_peers
        assert names[len(expected_peers) : -1] == expected_tier
        assert names[-1] == "origin" and table[entry.sources[-1]].kind == "origin"
        for index in entry.sources[:-1]:
            assert table[index].secret_id == secret_ids[0]
            url = manifest.source_url(entry, index)
            assert url is not None and f"/f/{secret_ids[0]}/" in url and url.endswith(entry.key)


def test_origin_urls_are_presigned_gets_for_the_keys_asked(fleet: FleetHarness) -> None:
    auths = _build_fleet(fleet)
    s3 = boto3.client(
        "s3", region_name=fleet.settings.aws_region, endpoint_url=fleet.settings.aws_endpoint_url
    )
    s3.put_object(Bucket=fleet.settings.origin_bucket, Key="title-000/720p/a.mp4", Body=b"bytes")
    keys = ["title-000/720p/a.mp4", "title-000/720p/b.mp4"]
    response = fleet.client.post(
        "/fleet/v1/appliances/ams-a/origin-urls", json={"keys": keys}, headers=auths["ams-a"]
    )
    assert response.status_code == 200, response.text
    answer = OriginUrls.model_validate_json(response.content)
    assert sorted(answer.urls) == keys
    assert answer.expires_at > fleet.clock.now
    assert httpx.get(str(answer.urls[keys[0]]), timeout=10).content == b"bytes"
    assert httpx.get(str(answer.urls[keys[1]]), timeout=10).status_code == 404


def test_origin_urls_refuse_bad_requests_and_strangers(fleet: FleetHarness) -> None:
    auths = _build_fleet(fleet)
    path = "/fleet/v1/appliances/ams-a/origin-urls"
    for keys in ([], ["../etc/passwd"], ["t/r/a", "t/r/a"], [f"t/r/{n}" for n in range(1_001)]):
        response = fleet.client.post(path, json={"keys": keys}, headers=auths["ams-a"])
        assert response.status_code == 422, keys
    assert fleet.client.post(path, json={"keys": ["t/r/a"]}).status_code == 401
    other = fleet.client.post(path, json={"keys": ["t/r/a"]}, headers=auths["ams-b"])
    assert other.status_code in (401, 403)


def test_the_ack_names_the_version_the_job_recorded_without_reading_s3(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    auths = _build_fleet(fleet)
    assert fleet.heartbeat("ams-a", auths["ams-a"])["manifest_version"] is None
    write_due_manifests(context=fleet.context, units=_units(12), now=fleet.clock.now)
    written = fleet.context.manifests.latest_version("ams-a")
    assert written is not None

    def no_s3(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("a heartbeat read S3")

    monkeypatch.setattr(ManifestStore, "latest", no_s3)
    assert fleet.heartbeat("ams-a", auths["ams-a"])["manifest_version"] == written


def test_a_recorded_version_lost_after_the_s3_write_is_recorded_on_the_next_run(
    fleet: FleetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    auths = _build_fleet(fleet)

    def fails(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("DynamoDB throttled")

    monkeypatch.setattr(manifest_job, "record_manifest_version", fails)
    first = write_due_manifests(context=fleet.context, units=_units(12), now=fleet.clock.now)
    assert first["written"] == 0 and len(first["failed"]) == 2  # type: ignore[arg-type]
    assert fleet.heartbeat("ams-a", auths["ams-a"])["manifest_version"] is None
    monkeypatch.undo()

    # Mid-window (the harness's clock): only ams-b, which has no manifest yet, is written; the
    # others' records are repaired from what is in S3.
    again = write_due_manifests(context=fleet.context, units=_units(12), now=fleet.clock.now)
    assert again == {"written": 1, "unchanged": 0, "sites": ["ams-1"], "failed": {}}
    for appliance_id in ("ams-a", "ams-b", "rtm-a"):
        written = fleet.context.manifests.latest_version(appliance_id)
        assert written is not None
        ack = fleet.heartbeat(appliance_id, auths[appliance_id])
        assert ack["manifest_version"] == written, appliance_id


def test_a_pointer_left_by_the_old_control_plane_is_replaced_not_served(
    fleet: FleetHarness,
) -> None:
    auths = _build_fleet(fleet)
    s3 = boto3.client(
        "s3", region_name=fleet.settings.aws_region, endpoint_url=fleet.settings.aws_endpoint_url
    )
    # Schema 1 kept a copy of the whole manifest as latest.json.
    old = b'{"schema_version": 1, "appliance_id": "ams-a", "version": "m1", "objects": []}'
    s3.put_object(
        Bucket=fleet.settings.manifest_bucket, Key="manifests/ams-a/latest.json", Body=old
    )
    assert fleet.context.manifests.latest("ams-a") is None
    missing = fleet.client.get("/fleet/v1/appliances/ams-a/manifest", headers=auths["ams-a"])
    assert missing.status_code == 404
    write_due_manifests(context=fleet.context, units=_units(12), now=fleet.clock.now, force=True)
    assert fleet.manifest("ams-a", auths["ams-a"]).header.schema_version == 2
