"""The store stays true under a full disk, a hostile manifest, eviction and bit rot."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance_agent.fill import SilentObserver
from appliance_agent.fill_cycle import FillCycle, http_client
from appliance_agent.scrub import scrub_store
from appliance_agent.store import Store
from lab.static_nginx import StaticNginx, static_nginx
from tests.integration.agent_fill.agent_lab import (
    MIB,
    AgentLab,
    ContentObject,
    make_objects,
    manifest_body,
    write_tree,
)
from tests.support.manifests import decoded_lines, encoded_lines

pytestmark = pytest.mark.nginx


@pytest.fixture
def origin_tree(tmp_path: Path) -> Path:
    root = tmp_path / "origin"
    root.mkdir()
    return root


@pytest.fixture
def nginx_origin(origin_tree: Path, tmp_path: Path) -> Iterator[StaticNginx]:
    with static_nginx(origin_tree, tmp_path / "origin-nginx") as server:
        yield server


@pytest.fixture
def small_filesystem(lab: AgentLab) -> Iterator[Path]:
    """A 12 MiB tmpfs mounted where the agent's store lives: a disk that really fills up."""
    lab.store_path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(lab.store_path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs and needs root: {mounted.stderr.strip()}")
    try:
        yield lab.store_path
    finally:
        subprocess.run(["umount", "-l", str(lab.store_path)], check=True)


class _FillDiskAfter(SilentObserver):
    """Writes a ballast file until ENOSPC once `nbytes` have been downloaded."""

    def __init__(self, ballast: Path, *, nbytes: int) -> None:
        self._ballast = ballast
        self._threshold = nbytes
        self._seen = 0

    def advanced(self, nbytes: int) -> None:
        self._seen += nbytes
        if self._seen < self._threshold or self._ballast.exists():
            return
        # Unbuffered: a buffered file keeps the bytes of the last short write and raises ENOSPC
        # again when it is closed, outside the try.
        with open(self._ballast, "wb", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 65536)
            except OSError:
                return


def _assert_store_consistent(lab: AgentLab, objects: list[ContentObject]) -> None:
    """Everything indexed is served and correct, and nothing served is wrong."""
    expected = {o.key: o.sha256 for o in objects}
    served = lab.served_files()
    index = lab.index()
    assert set(index) <= set(served)
    for key, digest in served.items():
        assert expected[key] == digest


def test_disk_full_mid_object_stops_cleanly_and_leaves_a_true_store(
    lab: AgentLab, small_filesystem: Path, origin_tree: Path, nginx_origin: StaticNginx
) -> None:
    objects = make_objects(3, min_size=3 * MIB, max_size=3 * MIB, seed=20)
    write_tree(origin_tree, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [nginx_origin.url(o.key)]))
    ballast = small_filesystem / "ballast"
    # Another writer takes all the free space while the second object is streaming in.
    observer = _FillDiskAfter(ballast, nbytes=objects[0].size + 256 * 1024)
    config = lab.config(concurrency=1)
    with http_client(config) as client:
        cycle = FillCycle(config, client=client)
        manifest = cycle.refresh().manifest
        assert manifest is not None
        report = cycle.fill(manifest, observer=observer)

    assert report.stop_reason == "disk full"
    assert report.result == "failed"
    assert report.objects_fetched == 1
    _assert_store_consistent(lab, objects)
    status = lab.status()
    assert status.fill.last_result == "failed"
    assert any("file system is full" in error for error in status.errors), status.errors
    assert status.missing_count == 2

    ballast.unlink()
    again = lab.fill()
    assert again.result == "ok"
    assert lab.served_files() == {o.key: o.sha256 for o in objects}


def test_the_free_space_floor_stops_a_fill_before_it_writes(
    lab: AgentLab, origin_tree: Path, nginx_origin: StaticNginx
) -> None:
    objects = make_objects(2, min_size=1000, max_size=2000, seed=21)
    write_tree(origin_tree, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [nginx_origin.url(o.key)]))

    report = lab.fill(free_space_floor=1 << 60)

    assert (report.stop_reason, report.objects_fetched) == ("disk full", 0)
    assert nginx_origin.requests() == []
    assert any("floor" in error for error in lab.status().errors)


def test_a_path_traversal_manifest_is_rejected_and_nothing_changes(
    lab: AgentLab, origin_tree: Path, nginx_origin: StaticNginx, tmp_path: Path
) -> None:
    objects = make_objects(2, min_size=1000, max_size=2000, seed=22)
    write_tree(origin_tree, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [nginx_origin.url(o.key)], version="v1"))
    lab.fill()
    before = lab.served_files()
    requests_before = len(nginx_origin.requests())

    good = manifest_body(objects, lambda o: [nginx_origin.url(o.key)], version="v2")
    lines = decoded_lines(good.body)
    header = json.loads(lines[0])
    header.update(
        title_count=header["title_count"] + 1,
        file_count=header["file_count"] + 1,
        total_bytes=header["total_bytes"] + 4,
    )
    hostile_title = {
        "title": "title-z",
        "units": [
            {"rendition": "r1", "sources": [0], "files": [["../../escaped/passwd", 4, "0" * 64]]}
        ],
    }
    lab.fleet.serve_body(
        encoded_lines([json.dumps(header), *lines[1:], json.dumps(hostile_title)]), version="v2"
    )
    report = lab.fill()

    assert report.manifest_version == "v1"
    assert report.bytes_transferred == 0
    assert lab.served_files() == before
    assert len(nginx_origin.requests()) == requests_before
    assert not (tmp_path / "escaped").exists() and not (lab.root / "escaped").exists()
    status = lab.status()
    assert status.manifest_version == "v1"
    assert any("manifest is invalid" in e and "units.0.files.0.0" in e for e in status.errors)


def test_objects_that_left_the_manifest_are_evicted_early_only_to_make_room(
    lab: AgentLab, origin_tree: Path, nginx_origin: StaticNginx
) -> None:
    a, b, c, d = make_objects(4, min_size=10_000, max_size=10_000, seed=23)
    write_tree(origin_tree, [a, b, c, d])
    budget = a.size + b.size + c.size
    lab.fleet.serve(manifest_body([a, b, c], lambda o: [nginx_origin.url(o.key)], version="v1"))
    lab.fill(byte_budget=budget)
    lab.fleet.serve(manifest_body([b, c, d], lambda o: [nginx_origin.url(o.key)], version="v2"))

    report = lab.fill(byte_budget=budget)

    assert report.result == "ok"
    assert (report.objects_fetched, report.objects_evicted) == (1, 1)
    assert lab.served_files() == {o.key: o.sha256 for o in (b, c, d)}
    assert set(lab.index()) == {b.key, c.key, d.key}


def test_stale_objects_stay_until_every_new_object_is_in(
    lab: AgentLab, origin_tree: Path, nginx_origin: StaticNginx
) -> None:
    a, b = make_objects(2, min_size=1000, max_size=1000, seed=24)
    write_tree(origin_tree, [a])  # b is not at its source yet: the v2 fill cannot complete
    lab.fleet.serve(manifest_body([a], lambda o: [nginx_origin.url(o.key)], version="v1"))
    lab.fill()
    lab.fleet.serve(manifest_body([b], lambda o: [nginx_origin.url(o.key)], version="v2"))

    incomplete = lab.fill()
    assert (incomplete.result, incomplete.objects_evicted) == ("failed", 0)
    assert set(lab.served_files()) == set(lab.index()) == {a.key}

    write_tree(origin_tree, [b])
    complete = lab.fill()
    assert (complete.result, complete.objects_evicted) == ("ok", 1)
    assert set(lab.served_files()) == set(lab.index()) == {b.key}


def test_verify_quarantines_bit_rot_and_the_next_fill_fetches_it_again(
    lab: AgentLab, origin_tree: Path, nginx_origin: StaticNginx
) -> None:
    objects = make_objects(3, min_size=5000, max_size=9000, seed=25)
    write_tree(origin_tree, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [nginx_origin.url(o.key)]))
    lab.fill()
    rotten = lab.objects_dir / objects[1].key
    data = bytearray(rotten.read_bytes())
    data[10] ^= 0x01
    rotten.write_bytes(bytes(data))

    store = Store(lab.store_path)
    try:
        report = scrub_store(store, rate=0)
    finally:
        store.close()

    assert (report.checked, report.quarantined) == (3, [objects[1].key])
    assert objects[1].key not in lab.served_files()
    assert len(list((lab.store_path / "quarantine").iterdir())) == 1
    refill = lab.fill()
    assert (refill.objects_fetched, refill.bytes_transferred) == (1, objects[1].size)
    assert lab.served_files() == {o.key: o.sha256 for o in objects}
