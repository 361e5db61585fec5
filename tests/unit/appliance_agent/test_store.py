"""The store layout: keys stay inside objects/, publish and evict keep index and files in step."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance_agent.errors import StoreBusy
from appliance_agent.fill import COMPLETE_META, is_complete
from appliance_agent.store import Store
from edgefill_contracts import ContractError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store")
    yield store
    store.close()


def _publish(store: Store, key: str, data: bytes = b"data") -> None:
    partial = store.partial_path(key=key, sha256="a" * 64)
    partial.write_bytes(data)
    store.publish(partial, key=key, size=len(data), sha256="a" * 64)


@pytest.mark.parametrize("key", ["../outside/x", "/etc/passwd", "t/../../x", "t/a\x00b"])
def test_no_key_resolves_outside_the_served_tree(store: Store, key: str) -> None:
    with pytest.raises(ContractError):
        store.object_path(key)


def test_publish_moves_the_partial_into_place_and_indexes_it(store: Store) -> None:
    _publish(store, "title/r1/a.bin")
    assert (store.objects_dir / "title/r1/a.bin").read_bytes() == b"data"
    assert list(store.partial_dir.iterdir()) == []
    entry = store.index.get("title/r1/a.bin")
    assert entry is not None and entry.size == 4
    assert store.index.totals() == (1, 4)


def test_evict_removes_the_row_the_file_and_empty_directories(store: Store) -> None:
    _publish(store, "title/r1/a.bin")
    _publish(store, "title/r2/b.bin")
    store.evict("title/r1/a.bin")
    assert store.index.get("title/r1/a.bin") is None
    assert not (store.objects_dir / "title/r1").exists()
    assert (store.objects_dir / "title/r2/b.bin").exists()


def test_quarantine_moves_the_file_out_of_the_served_tree(store: Store) -> None:
    _publish(store, "title/r1/a.bin")
    where = store.quarantine("title/r1/a.bin")
    assert where is not None and where.parent == store.quarantine_dir
    assert where.read_bytes() == b"data"
    assert store.index.get("title/r1/a.bin") is None
    assert not (store.objects_dir / "title").exists()


def test_a_new_version_of_an_object_never_resumes_the_old_partial(store: Store) -> None:
    old = store.partial_path(key="t/a.bin", sha256="a" * 64)
    new = store.partial_path(key="t/a.bin", sha256="b" * 64)
    other = store.partial_path(key="t/b.bin", sha256="a" * 64)
    assert len({old, new, other}) == 3


def test_stale_partials_are_cleaned_but_resumable_ones_kept(store: Store) -> None:
    keep = store.partial_path(key="t/a.bin", sha256="a" * 64)
    drop = store.partial_path(key="t/b.bin", sha256="b" * 64)
    keep.write_bytes(b"1")
    drop.write_bytes(b"2")
    assert store.remove_partials_except({keep}) == 1
    assert keep.exists() and not drop.exists()


def test_disk_usage_reports_the_store_file_system(store: Store) -> None:
    usage = store.disk_usage()
    assert usage.total_bytes > 0 and usage.free_bytes <= usage.total_bytes


def test_the_index_generation_moves_on_every_change_to_what_is_held(store: Store) -> None:
    seen = [store.index.generation()]
    _publish(store, "title/r1/a.bin")
    seen.append(store.index.generation())
    store.index.mark_verified("title/r1/a.bin", 123.0)  # a scrub's pass changes nothing held
    assert store.index.generation() == seen[-1]
    _publish(store, "title/r1/a.bin", b"other")
    seen.append(store.index.generation())
    store.evict("title/r1/a.bin")
    seen.append(store.index.generation())
    assert seen == sorted(set(seen))  # strictly increasing


def test_a_completion_mark_holds_only_until_the_store_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    try:
        _publish(store, "title/r1/a.bin")
        store.index.set_meta(COMPLETE_META, f"{store.index.generation()}:v1")
        assert is_complete(store, "v1") and not is_complete(store, "v2")
    finally:
        store.close()
    reopened = Store(tmp_path / "store")
    try:
        assert is_complete(reopened, "v1")
        reopened.quarantine("title/r1/a.bin")
        assert not is_complete(reopened, "v1")
    finally:
        reopened.close()


def test_only_one_process_fills_or_verifies_a_store_at_a_time(tmp_path: Path) -> None:
    first = Store(tmp_path / "store")
    second = Store(tmp_path / "store")
    try:
        with first.exclusive("fill"):
            with pytest.raises(StoreBusy) as caught, second.exclusive("verify"):
                pass
            assert f"pid {os.getpid()} (fill)" in str(caught.value)
            assert "cannot verify" in str(caught.value)
        with second.exclusive("verify"):  # released: the next one gets it
            pass
    finally:
        first.close()
        second.close()
