"""The delta between a manifest and the store's index: what to fetch, what to evict.

Computed from the index alone (one query), never by walking the served tree, so a fill with
nothing new costs a dictionary comparison even with hundreds of thousands of objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance_agent.store_index import IndexEntry
from edgefill_contracts import Manifest, ManifestEntry
from edgefill_contracts.holdings import encode_held_units, unit_order


@dataclass(frozen=True)
class Delta:
    """`missing`: to fetch, highest priority first; `stale`: held keys the manifest dropped."""

    missing: list[ManifestEntry]
    stale: list[IndexEntry]
    held_bytes_kept: int

    @property
    def missing_bytes(self) -> int:
        return sum(obj.size for obj in self.missing)

    @property
    def is_empty(self) -> bool:
        return not self.missing and not self.stale


def compute_delta(manifest: Manifest, held: dict[str, IndexEntry]) -> Delta:
    """Objects whose key is absent or whose size/sha256 changed are missing; extra keys are stale."""
    missing: list[ManifestEntry] = []
    kept = 0
    wanted: set[str] = set()
    for obj in manifest.entries():
        wanted.add(obj.key)
        entry = held.get(obj.key)
        if entry is not None and entry.sha256 == obj.sha256 and entry.size == obj.size:
            kept += obj.size
        else:
            missing.append(obj)
    missing.sort(key=lambda obj: (-obj.priority, obj.key))
    stale = [entry for key, entry in held.items() if key not in wanted]
    stale.sort(key=lambda entry: entry.key)
    return Delta(missing=missing, stale=stale, held_bytes_kept=kept)


@dataclass(frozen=True)
class Holdings:
    """How much of a manifest the store holds, verified: what the heartbeat reports.

    `held_units` is the exact set of the manifest's units held whole, encoded for the
    heartbeat (edgefill_contracts.holdings); `missing_keys` every object not held.
    """

    objects_held: int
    bytes_held: int
    missing_keys: list[str]
    held_units: str


def summarize_holdings(manifest: Manifest, held: dict[str, IndexEntry]) -> Holdings:
    count = 0
    total = 0
    missing: list[str] = []
    incomplete: set[str] = set()
    for obj in manifest.entries():
        entry = held.get(obj.key)
        if entry is not None and entry.sha256 == obj.sha256 and entry.size == obj.size:
            count += 1
            total += obj.size
        else:
            missing.append(obj.key)
            incomplete.add(obj.unit)
    order = unit_order(manifest)
    whole = frozenset(order).difference(incomplete)
    return Holdings(
        objects_held=count,
        bytes_held=total,
        missing_keys=missing,
        held_units=encode_held_units(order, whole),
    )
