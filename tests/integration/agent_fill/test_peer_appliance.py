"""A peer is another appliance: its nginx checks the signed `/f/...` path the manifest carries.

The agent sends no credential to peers; the control plane signs each peer URL with the
cluster's URL-signing secret (edgefill_contracts.signing), a fill path covering the title. An expired
or wrong signature is a 403, which escalates to the next source like a 404.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.static_nginx import StaticNginx, static_nginx
from tests.integration.agent_fill.agent_lab import AgentLab, make_objects, manifest_body, write_tree
from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    put_object,
    run_appliance,
)

pytestmark = pytest.mark.nginx


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[RunningAppliance]:
    yield from run_appliance(appliance_settings(tmp_path / "peer"))


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[StaticNginx]:
    root = tmp_path / "origin"
    root.mkdir()
    with static_nginx(root, tmp_path / "origin-nginx") as server:
        yield server


def test_objects_come_from_a_peer_appliance_through_signed_urls(
    lab: AgentLab, peer: RunningAppliance, origin: StaticNginx
) -> None:
    objects = make_objects(3, min_size=10_000, max_size=50_000, seed=50)
    for obj in objects:
        put_object(peer.settings, obj.key, obj.data)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [peer.fill_url(o.key), origin.url(o.key)]))

    report = lab.fill()

    assert report.result == "ok"
    assert report.bytes_from_peers == sum(o.size for o in objects)
    assert report.bytes_from_origin == 0 and origin.requests() == []
    assert lab.served_files() == {o.key: o.sha256 for o in objects}


def test_an_expired_peer_signature_escalates_to_the_origin(
    lab: AgentLab, peer: RunningAppliance, origin: StaticNginx
) -> None:
    objects = make_objects(2, min_size=10_000, max_size=50_000, seed=51)
    for obj in objects:
        put_object(peer.settings, obj.key, obj.data)
    write_tree(origin.root, objects)
    expired = int(time.time()) - 60
    lab.fleet.serve(
        manifest_body(objects, lambda o: [peer.fill_url(o.key, expires=expired), origin.url(o.key)])
    )

    report = lab.fill()

    assert report.result == "ok"
    assert report.bytes_from_peers == 0
    assert report.bytes_from_origin == sum(o.size for o in objects)
    assert lab.served_files() == {o.key: o.sha256 for o in objects}
