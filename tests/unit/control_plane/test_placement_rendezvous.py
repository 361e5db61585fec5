"""Placement: determinism, budgets, replicas growing with popularity, head everywhere, churn."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.placement.errors import PlacementError
from control_plane.placement.models import Member, PlacementPolicy, UnitDemand
from control_plane.placement.rendezvous import moved_bytes, place_cluster, wanted_replicas

POLICY = PlacementPolicy(
    min_replicas=1, max_replicas=4, views_per_extra_replica=4, head_fraction=0.0
)


def catalog(count: int, *, seed: int = 1) -> list[UnitDemand]:
    rng = random.Random(seed)
    return [
        UnitDemand(f"title-{i:05d}/720p", rng.randint(50, 400), 100 / (i + 1) * rng.random())
        for i in range(count)
    ]


def members(count: int, budget: int) -> list[Member]:
    return [Member(f"app-{i:02d}", budget) for i in range(count)]


def test_same_inputs_same_placement_whatever_the_input_order() -> None:
    units = catalog(500)
    first = place_cluster(units=units, members=members(6, 100_000), policy=POLICY)
    second = place_cluster(
        units=list(reversed(units)), members=list(reversed(members(6, 100_000))), policy=POLICY
    )
    assert first.holders == second.holders
    assert first.assignments == second.assignments


def test_budgets_are_respected_and_what_does_not_fit_is_reported() -> None:
    units = catalog(400)
    placement = place_cluster(units=units, members=members(3, 20_000), policy=POLICY)
    sizes = {u.unit_id: u.size for u in units}
    for appliance_id, assigned in placement.assignments.items():
        assert sum(sizes[u] for u in assigned) == placement.bytes_used[appliance_id] <= 20_000
    assert placement.unplaced, "the catalog is larger than the cluster: something must not fit"
    assert set(placement.unplaced).isdisjoint(placement.holders)


def test_replicas_grow_with_popularity() -> None:
    assert [
        wanted_replicas(popularity=p, policy=POLICY, members=10) for p in (0, 4, 12, 28, 1e9)
    ] == [1, 2, 3, 4, 4]
    assert wanted_replicas(popularity=1e9, policy=POLICY, members=2) == 2
    units = [UnitDemand("hot/720p", 10, 1000.0), UnitDemand("cold/720p", 10, 0.0)]
    placement = place_cluster(units=units, members=members(8, 1000), policy=POLICY)
    assert len(placement.holders["hot/720p"]) == 4
    assert len(placement.holders["cold/720p"]) == 1


def test_the_head_of_the_catalog_goes_everywhere_it_fits() -> None:
    policy = PlacementPolicy(head_fraction=0.2)
    units = catalog(300)
    placement = place_cluster(units=units, members=members(5, 50_000), policy=policy)
    ordered = sorted(units, key=lambda u: (-u.popularity, u.unit_id))
    head, total = [], 0
    for unit in ordered:
        if total + unit.size > 0.2 * 50_000:
            break
        head.append(unit.unit_id)
        total += unit.size
    assert head
    for unit_id in head:
        assert len(placement.holders[unit_id]) == 5
    assert len(placement.holders[ordered[len(head)].unit_id]) < 5


@pytest.mark.parametrize("change", ["add", "remove"])
def test_one_appliance_more_or_less_moves_about_one_nth_of_the_bytes(change: str) -> None:
    units = catalog(3000)
    before_members = members(20, 10**9)
    after_members = (
        [*before_members, Member("app-new", 10**9)] if change == "add" else before_members[:-1]
    )
    before = place_cluster(units=units, members=before_members, policy=POLICY)
    after = place_cluster(units=units, members=after_members, policy=POLICY)
    churn = moved_bytes(before, after) / after.placed_bytes()
    ideal = 1 / max(len(before_members), len(after_members))
    assert 0.5 * ideal < churn < 1.6 * ideal, f"churn {churn:.4f}, ideal {ideal:.4f}"


def test_load_is_balanced() -> None:
    placement = place_cluster(units=catalog(4000), members=members(10, 10**9), policy=POLICY)
    used = placement.bytes_used.values()
    assert max(used) < 1.25 * min(used)


@pytest.mark.parametrize(
    ("units", "cluster", "message"),
    [
        (catalog(3), [], "no appliances"),
        (catalog(3), [Member("a", 1), Member("a", 1)], "distinct appliance ids"),
        ([UnitDemand("u/1", 1, 0), UnitDemand("u/1", 1, 0)], members(2, 10), "distinct ids"),
    ],
)
def test_bad_inputs_are_refused(
    units: list[UnitDemand], cluster: list[Member], message: str
) -> None:
    with pytest.raises(PlacementError, match=message):
        place_cluster(units=units, members=cluster, policy=POLICY)


def test_policy_refuses_max_below_min() -> None:
    with pytest.raises(ValueError, match="below min_replicas"):
        PlacementPolicy(min_replicas=3, max_replicas=2)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=60),
    budgets=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=6),
)
def test_placement_invariants(sizes: list[int], budgets: list[int]) -> None:
    units = [UnitDemand(f"t{i}/r", size, float(i % 7)) for i, size in enumerate(sizes)]
    cluster = [Member(f"m{i}", budget) for i, budget in enumerate(budgets)]
    placement = place_cluster(units=units, members=cluster, policy=POLICY)
    size_of = {u.unit_id: u.size for u in units}
    for member in cluster:
        assigned = placement.assignments[member.appliance_id]
        assert sum(size_of[u] for u in assigned) <= member.byte_budget
        assert len(set(assigned)) == len(assigned)
    for holders in placement.holders.values():
        assert len(set(holders)) == len(holders) >= 1
    assert set(placement.holders) | set(placement.unplaced) == set(size_of)
