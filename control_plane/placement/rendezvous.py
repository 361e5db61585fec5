"""Rendezvous (HRW) placement of content units onto the appliances of one cluster.

Units are taken most popular first, and each wants `wanted_replicas` copies.

- Heads. Each member holds the most popular units that fit in `head_fraction` of its own
  budget, so a small member holds a shorter head. A member's head depends on its own budget
  alone: adding or removing another member, however small, leaves it as it was. (Sized by
  the smallest budget, as it once was, one small member shrank the head everywhere.)
- The rest. A unit ranks the members by weighted rendezvous with the byte budget as weight
  (rendezvous_hash.weighted_score, -budget / ln u: a member ranks first with probability
  proportional to its budget, so all fill at the same pace). Its primaries are the
  top-ranked members, as many as its head holders leave it wanting; a full primary is
  skipped. Once every unit has had its primaries, a second pass gives what is still short to
  the next-ranked members with room. Spilling while filling would let a full member push its
  units onto the next ones, which then fill sooner and push theirs on down the whole tail: a
  small member joining or leaving used to re-rank units all along it.

Churn. A member's share is the bytes it holds: after it is added, or before it is removed.
For any member, however small or large, `moved_bytes(before, after)` is at most about 1.1x
its share for a removal, and for an add whenever the cluster has room for every copy the
policy wants (an add then moves 1.0x; a removal less, since its head copies need no new
home). When the catalog outgrows the cluster and every member stays full, an add moves
1.6-1.9x its share: at most about 1x in copies of units the cluster already held, plus about
1x of catalog it had no room for until then. No placement computed from the member set can
do better there: the old members stay full, so what they take in equals what they give up
to the new member, and an add moves its share plus what removing that member again would
move. Only a placement that starts from what the members hold now could hand the new member
just the new catalog (and so only the least popular units). bench/bench_placement.py
measures both at production size.

The score of unit u on member m is ``(a_m * h(u) + b_m) mod p`` with p = 2**61 - 1, a_m and
b_m drawn from a stable hash of the member id and h(u) from one of the unit id: for a fixed
unit the members' scores are independent and uniform, and a score costs one multiply and
one modulo in C instead of a cryptographic hash per (unit, member) pair. The weighted order
is computed inline, as ln(u) / budget, a block of units at a time: 120,000 units x 50
members is 6M pairs, a few seconds in pure Python.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from itertools import accumulate

from control_plane.common.rendezvous_hash import MODULUS as _PRIME
from control_plane.common.rendezvous_hash import member_coefficients, stable_id_hash
from control_plane.placement.errors import PlacementError
from control_plane.placement.models import Member, Placement, PlacementPolicy, UnitDemand


def wanted_replicas(*, popularity: float, policy: PlacementPolicy, members: int) -> int:
    extra = int(math.log2(1.0 + max(popularity, 0.0) / policy.views_per_extra_replica))
    return max(1, min(policy.min_replicas + extra, policy.max_replicas, members))


def place_cluster(
    *, units: Sequence[UnitDemand], members: Sequence[Member], policy: PlacementPolicy
) -> Placement:
    """Place `units` on `members`; the same inputs always give the same placement.

    Each member holds its own head; the rest goes by rendezvous weighted by budget, full
    members spilling only in a second pass (the module docstring says why).

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

    budgets = {m.appliance_id: m.byte_budget for m in members}
    remaining = dict(budgets)
    # A member's head is the longest run of the most popular units that fits in head_fraction
    # of its own budget; in_head[:heads] are the members whose head reaches the current unit.
    running = list(accumulate(u.size for u in ordered))
    head_len = {
        a: bisect.bisect_right(running, policy.head_fraction * b) for a, b in budgets.items()
    }
    in_head = sorted(budgets, key=lambda a: (-head_len[a], a))
    heads = len(in_head)
    # Weighted rendezvous with the budget as weight. ln(u) / budget, u as in
    # rendezvous_hash.unit_score, ranks the members as weighted_score (-budget / ln u) does; it
    # is computed here a block of units at a time because it runs units x members times (6M
    # at 120,000 x 50). A member without budget ranks last.
    ranked = [
        (a, *member_coefficients(a), 1.0 / b if b > 0 else 0.0) for a, b in sorted(budgets.items())
    ]
    ranked_ids = [a for a, _, _, _ in ranked]
    log, prime, block_size = math.log, _PRIME, 2048

    def keys(unit_hashes: Sequence[int]) -> list[tuple[float, ...]]:
        columns = [
            [log(((ca * h + cb) % prime + 0.5) / prime) * inverse for h in unit_hashes]
            if inverse
            else [-math.inf] * len(unit_hashes)
            for _, ca, cb, inverse in ranked
        ]
        return list(zip(*columns, strict=True))

    hashes = [stable_id_hash(u.unit_id) for u in ordered]
    wants = [
        wanted_replicas(popularity=u.popularity, policy=policy, members=len(members))
        for u in ordered
    ]
    # First pass: the head holders, then the unit's primaries (the top-ranked of the rest, as
    # many as it still wants) if they have room. A full primary is skipped, not replaced.
    chosen_by_unit: list[list[str]] = []
    block: list[tuple[float, ...]] = []
    for i, (unit, want) in enumerate(zip(ordered, wants, strict=True)):
        if i % block_size == 0:
            block = keys(hashes[i : i + block_size])
        row = block[i % block_size]
        while heads and head_len[in_head[heads - 1]] <= i:
            heads -= 1
        chosen = in_head[:heads]
        for a in chosen:
            remaining[a] -= unit.size
        if want == 1 and not heads:  # most of the catalog: only the top member is needed
            rendezvous = []
            primaries = [max(zip(row, ranked_ids, strict=True))[1]]
        else:
            rendezvous = [a for _, a in sorted(zip(row, ranked_ids, strict=True), reverse=True)]
            held = set(chosen)
            primaries = [a for a in rendezvous if a not in held][: max(want - heads, 0)]
        for a in primaries:
            if remaining[a] >= unit.size:
                remaining[a] -= unit.size
                chosen.append(a)
        if heads and len(chosen) > 1:
            position = {a: p for p, a in enumerate(rendezvous)}
            chosen.sort(key=position.__getitem__)
        chosen_by_unit.append(chosen)
    # Second pass, most popular first: what is still short spills to the next-ranked members
    # with room. Spilling during the first pass would let a full member push its units onto
    # the next ones, fill those sooner and push theirs on, down the whole tail.
    largest = max(remaining.values())
    for i, (unit, want, chosen) in enumerate(zip(ordered, wants, chosen_by_unit, strict=True)):
        if len(chosen) >= want or unit.size > largest:
            continue
        row = keys(hashes[i : i + 1])[0]
        spill_order = [a for _, a in sorted(zip(row, ranked_ids, strict=True), reverse=True)]
        held = set(chosen)
        for a in spill_order:
            if a not in held and remaining[a] >= unit.size:
                remaining[a] -= unit.size
                chosen.append(a)
                if len(chosen) == want:
                    break
        position = {a: p for p, a in enumerate(spill_order)}
        chosen.sort(key=position.__getitem__)
        largest = max(remaining.values())

    holders: dict[str, tuple[str, ...]] = {}
    assigned: dict[str, list[str]] = {a: [] for a in budgets}
    short: list[str] = []
    unplaced: list[str] = []
    for unit, want, chosen in zip(ordered, wants, chosen_by_unit, strict=True):
        if not chosen:
            unplaced.append(unit.unit_id)
            continue
        if len(chosen) < want:
            short.append(unit.unit_id)
        holders[unit.unit_id] = tuple(chosen)
        for a in chosen:
            assigned[a].append(unit.unit_id)
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
