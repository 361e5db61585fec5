"""The fleet's document store: optimistic concurrency and its errors, against moto."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from control_plane.common.errors import Conflict, NotFound, Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.models import Cluster
from control_plane.fleet.store import FleetStore

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_concurrent_write_makes_update_retry_and_keeps_both_changes(
    stack: ServiceSettings,
) -> None:
    store = FleetStore.from_settings(stack)
    other_writer = FleetStore.from_settings(stack)
    store.clusters.create(Cluster(cluster_id="c1", site_id="s1", updated_at=NOW), what="cluster")
    calls = []

    def change(cluster: Cluster) -> Cluster:
        calls.append(cluster.site_id)
        if len(calls) == 1:  # someone else writes between our read and our write
            other_writer.clusters.update(
                {"cluster_id": "c1"}, lambda c: c.model_copy(update={"site_id": "s2"}), what="c1"
            )
        return cluster.model_copy(update={"updated_at": datetime(2027, 1, 1, tzinfo=UTC)})

    updated = store.clusters.update({"cluster_id": "c1"}, change, what="cluster c1")
    assert calls == ["s1", "s2"]
    assert (updated.site_id, updated.updated_at.year) == ("s2", 2027)
    stored = store.clusters.get({"cluster_id": "c1"})
    assert stored is not None and stored.revision == 3


def test_endless_contention_gives_up_with_503(stack: ServiceSettings) -> None:
    store = FleetStore.from_settings(stack)
    other_writer = FleetStore.from_settings(stack)
    store.clusters.create(Cluster(cluster_id="c1", site_id="s1", updated_at=NOW), what="cluster")

    def change(cluster: Cluster) -> Cluster:
        other_writer.clusters.update({"cluster_id": "c1"}, lambda c: c, what="c1")
        return cluster

    with pytest.raises(Unavailable, match="retry in a moment"):
        store.clusters.update({"cluster_id": "c1"}, change, what="cluster c1")


def test_create_twice_is_a_conflict_and_missing_is_not_found(stack: ServiceSettings) -> None:
    store = FleetStore.from_settings(stack)
    cluster = Cluster(cluster_id="c1", site_id="s1", updated_at=NOW)
    store.clusters.create(cluster, what="cluster c1")
    with pytest.raises(Conflict, match="already exists"):
        store.clusters.create(cluster, what="cluster c1")
    with pytest.raises(NotFound, match="cluster c9 does not exist"):
        store.clusters.update({"cluster_id": "c9"}, lambda c: c, what="cluster c9")
    with pytest.raises(Conflict, match="may not change the document's key"):
        store.clusters.update(
            {"cluster_id": "c1"}, lambda c: c.model_copy(update={"cluster_id": "c2"}), what="c1"
        )


def test_a_missing_table_is_503_not_500(stack: ServiceSettings) -> None:
    broken = FleetStore.from_settings(stack.model_copy(update={"name_prefix": "nosuchstack"}))
    with pytest.raises(Unavailable, match="ResourceNotFoundException"):
        broken.clusters.get({"cluster_id": "c1"})
