"""What an appliance verifiably holds, as the heartbeat reports it and fleet and steering read it.

Exact, for any manifest size: `HeldDigest.held_units` is a bitmap over the applied manifest's
units in sorted order (`unit_order`), bit i set when the i-th unit is held whole (every file
of it present with the manifest's size and sha256). Bit i is bit ``i % 8`` (least significant
first) of byte ``i // 8``; the bytes are zlib-compressed, then base64-encoded. 120,000 units
(20,000 titles x 6 renditions) are a 15,000-byte bitmap before compression.

Older agents send no bitmap; for them the rule stays the applied manifest minus `missing_keys`,
and nothing when that list was cut short (`missing_truncated`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import zlib
from collections.abc import Iterable, Sequence

from edgefill_contracts.errors import ContractError
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.manifest import Manifest
from edgefill_contracts.object_key import unit_of_key


def unit_of_listed_key(key: str) -> str | None:
    """The unit of a manifest's key, or None for a key that sits in no unit (fewer than
    three segments): such a file is filled and served but never steered by unit."""
    try:
        return unit_of_key(key)
    except ValueError:
        return None


# _FLAGS[b]: the 8 bits of byte b, least significant first, one byte (0 or 1) each.
_FLAGS = tuple(bytes((byte >> bit) & 1 for bit in range(8)) for byte in range(256))


def manifest_units(manifest: Manifest) -> frozenset[str]:
    """Every unit a manifest lists."""
    return frozenset(manifest.units())


def unit_order(manifest: Manifest) -> tuple[str, ...]:
    """The manifest's units in the order the held-units bitmap uses (sorted)."""
    return tuple(sorted(manifest_units(manifest)))


def encode_held_units(order: Sequence[str], held: Iterable[str]) -> str:
    """The `held_units` value for the units of `order` that are in `held`."""
    members = held if isinstance(held, (set, frozenset)) else frozenset(held)
    bitmap = bytearray((len(order) + 7) // 8)
    for index, unit in enumerate(order):
        if unit in members:
            bitmap[index >> 3] |= 1 << (index & 7)
    return base64.b64encode(zlib.compress(bytes(bitmap), 9)).decode("ascii")


def decode_held_units(order: Sequence[str], encoded: str) -> frozenset[str]:
    """The units of `order` the bitmap marks held; ContractError when it cannot be one for
    `order` (not base64, not zlib, or not exactly ceil(len(order) / 8) bytes)."""
    return frozenset(itertools.compress(order, held_unit_flags(len(order), encoded)))


def held_unit_flags(unit_count: int, encoded: str) -> bytes:
    """One byte per unit of the applied manifest, 1 when the bitmap marks it held, else 0;
    ContractError as `decode_held_units`."""
    size = (unit_count + 7) // 8
    try:
        compressed = base64.b64decode(encoded, validate=True)
        inflater = zlib.decompressobj()
        # Bounded: a bitmap longer than the manifest's is refused, never inflated whole.
        bitmap = inflater.decompress(compressed, size + 1)
        complete = inflater.eof and not inflater.unconsumed_tail
    except (binascii.Error, zlib.error) as exc:
        raise ContractError(f"held_units is not base64 of zlib data: {exc}") from exc
    need = f"the applied manifest's {unit_count} units need exactly {size} bytes"
    if len(bitmap) > size:
        raise ContractError(f"held_units inflates past {size} bytes; {need}")
    if not complete:
        raise ContractError(f"held_units is a cut-short zlib stream; {need}")
    if len(bitmap) != size:
        raise ContractError(f"held_units holds {len(bitmap)} bytes; {need}")
    if unit_count % 8 and bitmap and bitmap[-1] >> (unit_count % 8):
        raise ContractError("held_units marks units past the end of the applied manifest")
    # One flag byte per bit, through a 256-entry table: a 120,000-unit bitmap decodes in a few
    # milliseconds instead of a Python loop over every bit.
    return b"".join(map(_FLAGS.__getitem__, bitmap))[:unit_count]


def held_units(*, order: Sequence[str], held: HeldDigest) -> frozenset[str]:
    """Units of the applied manifest (`order`, from `unit_order`) the appliance holds whole.

    From the bitmap when the digest has one (ContractError if it does not fit `order`);
    otherwise the manifest minus the units of `missing_keys`, and nothing when that list was
    cut short (`missing_truncated`): then any listed unit might be incomplete.
    """
    if held.held_units is not None:
        return decode_held_units(order, held.held_units)
    if held.missing_truncated:
        return frozenset()
    listed = frozenset(order)
    if not held.missing_keys:
        return listed
    # A key that sits in no unit, or none a manifest could list: no unit of ours is missing.
    gone = {unit_of_listed_key(key) for key in held.missing_keys}
    return listed.difference(gone)
