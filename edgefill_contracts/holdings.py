"""What an appliance verifiably holds: its applied manifest's units minus those with missing files.

The rule of HeldDigest (heartbeat) as code, so fleet and steering read a digest one way.
"""

from __future__ import annotations

from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.manifest import Manifest
from edgefill_contracts.object_key import unit_of_key


def manifest_units(manifest: Manifest) -> frozenset[str]:
    """Every unit a manifest lists."""
    return frozenset(unit_of_key(obj.key) for obj in manifest.objects)


def held_units(*, listed: frozenset[str], held: HeldDigest) -> frozenset[str]:
    """Units of the applied manifest (`listed`) the appliance holds whole.

    Empty when the report cannot be trusted: its list of missing keys was cut short
    (HeldDigest.missing_truncated), so any listed unit might be incomplete.
    """
    if held.missing_truncated:
        return frozenset()
    if not held.missing_keys:
        return listed
    gone = set()
    for key in held.missing_keys:
        try:
            gone.add(unit_of_key(key))
        except ValueError:
            continue  # a key no manifest could list: nothing of ours is missing
    return listed - gone
