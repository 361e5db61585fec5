"""The manifest builder: one manifest at a time, only for the members asked, every peer once
in the source table with the secret it accepts, and a clear error for a file outside its unit."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from control_plane.catalog.units import CatalogUnit, UnitFile
from control_plane.manifests.builder import FillMember, build_manifest
from control_plane.placement.cluster_manifests import build_cluster_manifests
from control_plane.placement.models import PlacementPolicy
from control_plane.signing.keys import SigningKey
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import (
    MAX_TITLE_TOKENS,
    Manifest,
    decode_manifest,
    encode_manifest,
)
from edgefill_contracts.signing import sign_fill_path

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
KEY = SigningKey(secret_id="k1", secret=SecretStr("s" * 24), created_at=NOW)


def unit(title: str, *, key: str | None = None) -> CatalogUnit:
    return CatalogUnit(
        unit_id=f"{title}/720p",
        files=(UnitFile(key=key or f"{title}/720p/media.mp4", size=10, sha256="a" * 64),),
    )


def member(appliance_id: str, *, holds: frozenset[str] = frozenset()) -> FillMember:
    return FillMember(
        appliance_id=appliance_id,
        cluster_id="c1",
        base_url=f"https://{appliance_id}.isp.example",
        byte_budget=10_000,
        held_units=holds,
        accepted_secret_ids=frozenset({"k1"}),
        can_serve_fills=True,
    )


def build(
    members: list[FillMember], units: list[CatalogUnit], *, only: frozenset[str] | None = None
) -> Iterator[Manifest]:
    return build_cluster_manifests(
        cluster_members=members,
        isp_members=members,
        units={u.unit_id: u for u in units},
        popularity={},
        policy=PlacementPolicy(min_replicas=2),  # with two members, both hold every unit
        signing_keys=[KEY],
        fill_window=FillWindow(),
        fill_opens=NOW,
        sources_expire_at=NOW + timedelta(hours=13),
        now=NOW,
        only=only,
    )


def test_manifests_are_made_one_at_a_time_and_only_for_the_members_asked() -> None:
    members = [member("a1"), member("a2"), member("a3")]
    made = build(members, [unit(f"t{n}") for n in range(6)], only=frozenset({"a1", "a3"}))
    lazy = inspect.isgenerator(made)
    assert lazy, "a list would hold every member's manifest at once"
    assert [m.appliance_id for m in made] == ["a1", "a3"]


def test_a_peer_that_holds_the_unit_is_a_signed_source_before_the_origin() -> None:
    units = [unit("t0")]
    holder = member("a2", holds=frozenset({"t0/720p"}))
    made = list(build([member("a1"), holder], units, only=frozenset({"a1"})))
    manifest = made[0]
    entry = next(manifest.entries())
    table = manifest.header.sources
    assert [table[i].name for i in entry.sources] == ["a2", "origin"]
    expires = manifest.header.sources_expire_at
    assert manifest.source_url(
        entry, entry.sources[0]
    ) == "https://a2.isp.example" + sign_fill_path(
        secret_id="k1", secret="s" * 24, key=entry.key, expires=expires
    )
    assert manifest.source_url(entry, entry.sources[1]) is None


def test_a_catalog_file_outside_its_unit_directory_is_refused_by_name() -> None:
    stray = unit("t0", key="t0/other/media.mp4")
    with pytest.raises(ValueError, match=r"'t0/other/media.mp4' is not directly inside its unit"):
        list(build([member("a1")], [stray]))


def test_peers_of_many_sites_are_signed_with_their_own_sites_keys_up_to_a_titles_tokens() -> None:
    """Per-site keys: each peer source names a key of its own site; a manifest whose peers span
    more sites than a title may hold tokens (MAX_TITLE_TOKENS) leaves the rest to the origin."""
    sites = MAX_TITLE_TOKENS + 2
    keys = [
        SigningKey(
            secret_id=f"site{n}-k", secret=SecretStr(f"secret-{n}-" + "x" * 16), created_at=NOW
        )
        for n in range(sites)
    ]
    peers = [
        FillMember(
            appliance_id=f"p{n}",
            cluster_id=f"c-other-{n}",
            base_url=f"https://p{n}.isp.example",
            byte_budget=10_000,
            held_units=frozenset({f"t{n}/720p"}),
            accepted_secret_ids=frozenset({keys[n].secret_id}),
            can_serve_fills=True,
        )
        for n in range(sites)
    ]
    units = {f"t{n}/720p": unit(f"t{n}") for n in range(sites)}
    manifest = build_manifest(
        member("a1"),
        sorted(units),
        cluster_members=[member("a1")],
        isp_members=peers,
        units=units,
        signing_keys=keys,
        fill_window=FillWindow(),
        fill_opens=NOW,
        sources_expire_at=NOW + timedelta(hours=13),
        now=NOW,
    )
    table = manifest.header.sources
    peer_sources = [s for s in table if s.kind == "appliance"]
    assert len(peer_sources) == MAX_TITLE_TOKENS
    for source in peer_sources:
        assert source.secret_id == f"site{source.name[1:]}-k", "signed with its own site's key"
    for title in manifest.titles:
        assert len(title.tokens) <= MAX_TITLE_TOKENS
    via_origin_only = [
        e for e in manifest.entries() if [table[i].name for i in e.sources] == ["origin"]
    ]
    assert len(via_origin_only) == sites - MAX_TITLE_TOKENS
    # What the appliance decodes: the contract's own checks (every source's token present) hold.
    decoded = decode_manifest(encode_manifest(manifest.header, manifest.titles))
    assert len(list(decoded.entries())) == sites
