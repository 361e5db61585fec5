"""Rendezvous (HRW) placement of content units onto the appliances of one cluster.

Each unit ranks the members by a stable hash of (unit, member) and takes the first ones with
room. Adding or removing one of M members therefore moves only the copies that rank it
first: about 1/M of the bytes.

The score of unit u on member m is ``(a_m * h(u) + b_m) mod p`` with p = 2**61 - 1, a_m and
b_m drawn from a stable hash of the member id and h(u) from one of the unit id: for a fixed
unit the members' scores are independent and uniform, and a score costs one multiply and
one modulo in C instead of a cryptographic hash per (unit, member) pair, which is what lets
160,000 units x 50 members place in about a second in pure Python.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from control_plane.placement.errors import PlacementError
from control_plane.placement.models import Member, Placement, PlacementPolicy, UnitDemand

_PRIME = (1 << 61) - 1


def stable_id_hash(value: str, *, salt: bytes = b"") -> int:
    """An integer in [1, 2**61 - 1) from a string, the same in every process."""
    digest = hashlib.blake2b(value.encode(), digest_size=8, salt=salt).digest()
    return int.from_bytes(digest, "big") % (_PRIME - 1) + 1


def member_coefficients(appliance_id: str) -> tuple[int, int]:
    """(a, b) of one member's score function."""
    return stable_id_hash(appliance_id, salt=b"a"), stable_id_hash(appliance_id, salt=b"b")


def wanted_replicas(*, popularity: float, policy: PlacementPolicy, members: int) -> int:
    extra = int(math.log2(1.0 + max(popularity, 0.0) / policy.views_per_extra_replica))
    return max(1, min(policy.min_replicas + extra, policy.max_replicas, members))


def place_cluster(
    *, units: Sequence[UnitDemand], members: Sequence[Member], policy: PlacementPolicy
) -> Placement:
    """Place `units` on `members`; the same inputs always give the same placement.

    Raises PlacementError when the cluster has no members or two members or units share an id.
    """
    if not members:
        raise PlacementError("cannot place onto a cluster with no appliances; add one first")
    ids = [m.appliance_id for m in members]
    if len(set(ids)) != len(ids):
        raise PlacementError("cluster members must have distinct appliance ids")
    ordered = sorted(units, key=lambda u: (-u.popularity, u.unit_id))
    if len({u.unit_id for u in ordered}) != len(ordered):
        raise PlacementError("content units must have distinct ids")

    coefficients = sorted((*member_coefficients(m.appliance_id), m.appliance_id) for m in members)
    remaining = {m.appliance_id: m.byte_budget for m in members}
    head_budget = policy.head_fraction * min(m.byte_budget for m in members)
    head_bytes = 0
    holders: dict[str, tuple[str, ...]] = {}
    assigned: dict[str, list[str]] = {m.appliance_id: [] for m in members}
    short: list[str] = []
    unplaced: list[str] = []
    in_head = True
    for unit in ordered:
        if in_head and head_bytes + unit.size <= head_budget:
            head_bytes += unit.size
            want = len(members)
        else:
            in_head = False
            want = wanted_replicas(popularity=unit.popularity, policy=policy, members=len(members))
        u = stable_id_hash(unit.unit_id)
        ranking = sorted(coefficients, key=lambda c: (c[0] * u + c[1]) % _PRIME, reverse=True)
        chosen: list[str] = []
        for _, _, appliance_id in ranking:
            if remaining[appliance_id] >= unit.size:
                remaining[appliance_id] -= unit.size
                chosen.append(appliance_id)
                assigned[appliance_id].append(unit.unit_id)
                if len(chosen) == want:
                    break
        if not chosen:
            unplaced.append(unit.unit_id)
            continue
        if len(chosen) < want:
            short.append(unit.unit_id)
        holders[unit.unit_id] = tuple(chosen)
    budgets = {m.appliance_id: m.byte_budget for m in members}
    return Placement(
        holders=holders,
        assignments={a: tuple(units_) for a, units_ in assigned.items()},
        bytes_used={a: budgets[a] - remaining[a] for a in budgets},
        short=tuple(short),
        unplaced=tuple(unplaced),
        sizes={u.unit_id: u.size for u in ordered},
    )


def moved_bytes(before: Placement, after: Placement) -> int:
    """Bytes that must be copied to go from `before` to `after`: new (unit, appliance) pairs."""
    moved = 0
    for unit_id, appliances in after.holders.items():
        old = set(before.holders.get(unit_id, ()))
        size = after.sizes[unit_id]
        moved += size * sum(1 for a in appliances if a not in old)
    return moved
