"""Fills against real sources: presigned S3 URLs on the moto server, and plain nginx peers."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest

from edgefill_contracts.holdings import encode_held_units
from edgefill_contracts.object_key import unit_of_key
from lab.static_nginx import static_nginx
from tests.integration.agent_fill.agent_lab import (
    MIB,
    AgentLab,
    make_objects,
    manifest_body,
    write_tree,
)
from tests.integration.agent_fill.conftest import S3Origin

pytestmark = pytest.mark.nginx


def test_clean_fill_from_the_origin_holds_exactly_the_manifest(
    lab: AgentLab, origin: S3Origin
) -> None:
    objects = make_objects(6, min_size=1, max_size=MIB, seed=1)
    origin.put(objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o)]))

    report = lab.fill()

    assert report.result == "ok"
    assert report.objects_fetched == 6
    assert report.bytes_transferred == sum(o.size for o in objects)
    assert report.bytes_from_origin == report.bytes_transferred
    # The origin's URLs came from the fleet API in one batch, in the fill's order.
    assert [sorted(batch) for batch in lab.fleet.origin_requests] == [
        sorted(o.key for o in objects)
    ]
    assert lab.served_files() == {o.key: o.sha256 for o in objects}
    assert lab.index() == {o.key: o.sha256 for o in objects}
    assert list((lab.store_path / ".partial").iterdir()) == []
    status = lab.status()
    assert status.manifest_version == "v1"
    assert (status.objects_held, status.bytes_held) == (6, sum(o.size for o in objects))
    assert status.fill.last_result == "ok"
    assert status.held_digest().missing_keys == []
    assert status.held_digest().held_units == encode_held_units(
        sorted({unit_of_key(o.key) for o in objects}), {unit_of_key(o.key) for o in objects}
    )


def test_a_second_fill_transfers_zero_bytes_and_parses_no_manifest(
    lab: AgentLab, origin: S3Origin
) -> None:
    objects = make_objects(4, min_size=1, max_size=256 * 1024, seed=2)
    origin.put(objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o)]))
    lab.fill()

    again = lab.fill()

    assert again.result == "ok"
    assert (again.objects_missing_at_start, again.bytes_transferred) == (0, 0)
    assert lab.fleet.statuses == [200, 304]


def test_a_404_peer_escalates_to_the_origin(
    lab: AgentLab, origin: S3Origin, tmp_path: Path
) -> None:
    objects = make_objects(3, min_size=1000, max_size=200_000, seed=3)
    origin.put(objects)
    peer_root = tmp_path / "peer"
    write_tree(peer_root, objects[:1])  # the peer holds only the first object
    with static_nginx(peer_root, tmp_path / "peer-nginx") as peer:
        lab.fleet.serve(manifest_body(objects, lambda o: [peer.url(o.key), origin.url(o)]))
        report = lab.fill()
        peer_log = peer.requests()

    assert report.result == "ok"
    assert report.bytes_from_peers == objects[0].size
    assert report.bytes_from_origin == objects[1].size + objects[2].size
    assert sorted(r.status for r in peer_log) == [200, 404, 404]
    assert lab.served_files() == {o.key: o.sha256 for o in objects}


def test_corrupt_bytes_from_a_peer_never_reach_the_served_tree(
    lab: AgentLab, origin: S3Origin, tmp_path: Path
) -> None:
    objects = make_objects(2, min_size=300_000, max_size=300_000, seed=4)
    origin.put(objects)
    peer_root = tmp_path / "peer"
    write_tree(peer_root, objects)
    rotten = peer_root / objects[1].key
    data = bytearray(rotten.read_bytes())
    data[150_000] ^= 0xFF  # same size, one flipped byte
    rotten.write_bytes(bytes(data))
    with static_nginx(peer_root, tmp_path / "peer-nginx") as peer:
        lab.fleet.serve(manifest_body(objects, lambda o: [peer.url(o.key), origin.url(o)]))
        report = lab.fill()

    assert report.result == "ok"
    assert report.bytes_from_peers == objects[0].size
    assert report.bytes_from_origin == objects[1].size
    served = lab.served_files()
    assert served[objects[1].key] == objects[1].sha256
    assert hashlib.sha256(bytes(data)).hexdigest() not in served.values()
    assert list((lab.store_path / ".partial").iterdir()) == []


def test_an_object_no_source_can_deliver_stays_missing_and_reported(
    lab: AgentLab, tmp_path: Path
) -> None:
    objects = make_objects(2, min_size=1000, max_size=2000, seed=5)
    peer_root = tmp_path / "peer"
    write_tree(peer_root, objects[:1])
    with static_nginx(peer_root, tmp_path / "peer-nginx") as peer:
        lab.fleet.serve(manifest_body(objects, lambda o: [peer.url(o.key)]))
        report = lab.fill()

    assert report.result == "partial"
    assert report.objects_failed == 1
    assert set(lab.served_files()) == {objects[0].key}
    status = lab.status()
    assert status.missing_keys == [objects[1].key]
    assert status.held_digest().missing_keys == [objects[1].key]
    assert any(objects[1].key in error and "HTTP 404" in error for error in status.errors)


def test_an_object_the_fleet_gives_no_origin_url_for_fails_alone(
    lab: AgentLab, origin: S3Origin
) -> None:
    objects = make_objects(3, min_size=1000, max_size=2000, seed=6)
    origin.put(objects)
    built = manifest_body(objects, lambda o: [origin.url(o)])
    del built.origin_urls[objects[1].key]  # the fleet API leaves this key out of its answer
    lab.fleet.serve(built)
    report = lab.fill()

    assert (report.result, report.objects_fetched, report.objects_failed) == ("partial", 2, 1)
    assert set(lab.served_files()) == {objects[0].key, objects[2].key}
    errors = lab.status().errors
    assert any(objects[1].key in e and "no fresh origin URL" in e for e in errors), errors


def test_the_origin_only_peer_policy_never_asks_a_peer(
    lab: AgentLab, origin: S3Origin, tmp_path: Path
) -> None:
    objects = make_objects(2, min_size=1000, max_size=2000, seed=6)
    origin.put(objects)
    peer_root = tmp_path / "peer"
    write_tree(peer_root, objects)
    with static_nginx(peer_root, tmp_path / "peer-nginx") as peer:
        lab.fleet.serve(manifest_body(objects, lambda o: [peer.url(o.key), origin.url(o)]))
        report = lab.fill(peer_policy="origin-only")
        peer_requests = peer.requests()

    assert report.result == "ok"
    assert peer_requests == []
    assert report.bytes_from_origin == sum(o.size for o in objects)


def test_a_peer_that_hangs_times_out_and_the_origin_serves(lab: AgentLab, origin: S3Origin) -> None:
    objects = make_objects(1, min_size=1000, max_size=1000, seed=7)
    origin.put(objects)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # connections complete in the backlog; nothing ever answers
        port = hung.getsockname()[1]
        lab.fleet.serve(
            manifest_body(objects, lambda o: [f"http://127.0.0.1:{port}/{o.key}", origin.url(o)])
        )
        started = time.monotonic()
        report = lab.fill(request_timeout_s=0.5, attempts_per_source=2)
        elapsed = time.monotonic() - started

    assert report.result == "ok"
    assert report.bytes_from_origin == objects[0].size
    assert elapsed < 10  # two bounded attempts, not a hang
    assert lab.served_files() == {objects[0].key: objects[0].sha256}
