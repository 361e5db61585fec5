"""The delta comes from the index alone: what is missing, changed or stale, by priority."""

from __future__ import annotations

from pathlib import Path

from appliance_agent.delta import compute_delta, summarize_holdings
from appliance_agent.status import AgentStatus, bounded_missing
from appliance_agent.store import Store
from appliance_agent.store_index import IndexEntry
from edgefill_contracts import HeldDigest, Manifest
from edgefill_contracts.holdings import held_units, unit_order
from tests.support.manifests import File, manifest_of


def _obj(key: str, *, size: int = 10, digest: str = "a", priority: int = 0) -> File:
    return File(key=key, size=size, sha256=digest * 64, priority=priority)


def _manifest(objects: list[File]) -> Manifest:
    return manifest_of(objects).manifest


def _entry(key: str, *, size: int = 10, digest: str = "a") -> IndexEntry:
    return IndexEntry(key=key, size=size, sha256=digest * 64, verified_at=0.0)


def test_missing_changed_and_stale_objects_are_told_apart() -> None:
    manifest = _manifest(
        [
            _obj("t/r/held"),
            _obj("t/r/changed", digest="b"),
            _obj("t/r/resized", size=11),
            _obj("t/r/new"),
        ]
    )
    held = {key: _entry(key) for key in ("t/r/held", "t/r/changed", "t/r/resized", "t/r/gone")}
    delta = compute_delta(manifest, held)
    assert [o.key for o in delta.missing] == ["t/r/changed", "t/r/new", "t/r/resized"]
    assert [e.key for e in delta.stale] == ["t/r/gone"]
    assert delta.held_bytes_kept == 10
    assert delta.missing_bytes == 31


def test_higher_priority_is_fetched_first() -> None:
    manifest = _manifest([_obj("t/a/f", priority=1), _obj("t/b/f", priority=9), _obj("t/c/f")])
    assert [o.key for o in compute_delta(manifest, {}).missing] == ["t/b/f", "t/a/f", "t/c/f"]


def test_nothing_to_do_is_an_empty_delta() -> None:
    manifest = _manifest([_obj("t/r/a"), _obj("t/r/b")])
    delta = compute_delta(manifest, {"t/r/a": _entry("t/r/a"), "t/r/b": _entry("t/r/b")})
    assert delta.is_empty


def test_the_delta_reads_the_index_not_the_directory(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    try:
        store.index.put(key="t/r/a", size=10, sha256="a" * 64)
        # No file exists under objects/: a directory walk would call it missing; the index
        # (the source of truth between scrubs) says it is held.
        delta = compute_delta(_manifest([_obj("t/r/a")]), store.index.entries())
    finally:
        store.close()
    assert delta.is_empty


def test_a_100k_object_manifest_with_nothing_new_is_one_dictionary_pass() -> None:
    objects = [_obj(f"t{n // 1000:03d}/r/{n:06d}") for n in range(100_000)]
    held = {o.key: _entry(o.key) for o in objects}
    manifest = _manifest(objects)
    delta = compute_delta(manifest, held)
    assert delta.is_empty and delta.held_bytes_kept == 1_000_000


def test_holdings_count_only_what_matches_the_manifest() -> None:
    manifest = _manifest([_obj("t/r/a"), _obj("t/r/b", digest="b"), _obj("t/r/c")])
    held = {"t/r/a": _entry("t/r/a"), "t/r/b": _entry("t/r/b"), "t/r/x": _entry("t/r/x")}
    holdings = summarize_holdings(manifest, held)
    assert (holdings.objects_held, holdings.bytes_held) == (1, 10)
    assert holdings.missing_keys == ["t/r/b", "t/r/c"]


def test_holdings_name_exactly_the_units_held_whole() -> None:
    manifest = _manifest(
        [
            _obj("t1/720p/index.m3u8"),
            _obj("t1/720p/stream.mp4"),
            _obj("t2/720p/index.m3u8"),
            _obj("t2/720p/stream.mp4", digest="b"),  # held with the wrong sha256
            _obj("t3/1080p/stream.mp4"),  # not held at all
        ]
    )
    held = {
        key: _entry(key)
        for key in ("t1/720p/index.m3u8", "t1/720p/stream.mp4", "t2/720p/index.m3u8")
    }
    holdings = summarize_holdings(manifest, held)
    digest = HeldDigest(manifest_version="v1", held_units=holdings.held_units)
    assert held_units(order=unit_order(manifest), held=digest) == {"t1/720p"}
    assert holdings.missing_keys == ["t2/720p/stream.mp4", "t3/1080p/stream.mp4"]


def test_holdings_of_many_missing_files_are_still_exact() -> None:
    # 3,000 units, the second half missing: far past the 1,000 missing keys a heartbeat lists.
    objects = [_obj(f"title-{n:05d}/720p/stream.mp4") for n in range(3_000)]
    held = {o.key: _entry(o.key) for o in objects[:1_500]}
    holdings = summarize_holdings(_manifest(objects), held)
    status = AgentStatus(
        manifest_version="v1",
        missing_count=len(holdings.missing_keys),
        missing_keys=bounded_missing(holdings.missing_keys),
        held_units=holdings.held_units,
    )
    digest = status.held_digest()
    assert digest.missing_truncated
    expected = {f"title-{n:05d}/720p" for n in range(1_500)}
    assert held_units(order=unit_order(_manifest(objects)), held=digest) == expected
