"""The snapshot job's holdings: per appliance, one bitmap row over an append-only unit table.

At production size (10,000 appliances each holding up to 120,000 units) the job can keep
neither the units each appliance holds as sets (tens of GB) nor recompute every row on every
pass (a Python loop over a billion units). So it keeps, per appliance, only its row (15 KB at
120,000 units: 150 MB for the fleet) and the report it was computed from, and recomputes a row
only when that appliance's report (manifest version and held bitmap) changed: reading its
manifest's unit order from S3 and setting one bit per held unit (~20 ms).

Units are numbered in the order first seen and never renumbered, so a row stays valid when
units are added (it is padded with zeros). Rows that changed are recomputed within a time
budget per pass, those waiting longest first; the rest keep their previous row until the next
pass. A cold job container starts from the published holdings section (it records each row's
report), not from nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import cast

from control_plane.steering.snapshot_format import HoldingsSection, row_bytes
from edgefill_contracts.errors import ContractError
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.holdings import held_unit_flags, held_units

logger = logging.getLogger(__name__)

UnitOrder = Callable[[str, str], Sequence[str] | None]
"""(appliance id, manifest version) -> the manifest's units in held-bitmap order, or None."""


def report_key(held: HeldDigest | None) -> str | None:
    """What a row was computed from, compactly; None when the report says nothing is held."""
    if held is None or held.manifest_version is None:
        return None
    if held.held_units is not None:
        digest = hashlib.sha256(held.held_units.encode()).hexdigest()[:32]
        return f"{held.manifest_version}|bitmap|{digest}"
    if held.missing_truncated:
        return None
    missing = hashlib.sha256("\n".join(sorted(held.missing_keys)).encode()).hexdigest()[:32]
    return f"{held.manifest_version}|missing|{missing}"


@dataclass(frozen=True)
class RowsUpdate:
    """What one pass did: rows recomputed, rows left for the next pass, rows dropped."""

    recomputed: int
    deferred: int
    dropped: int


class HoldingsRows:
    def __init__(self) -> None:
        self._units: list[str] = []
        self._index: dict[str, int] = {}
        self._rows: dict[str, tuple[str, bytes]] = {}  # appliance -> (report key, row)
        self._waiting_since: dict[str, float] = {}

    @classmethod
    def seeded(cls, section: HoldingsSection) -> HoldingsRows:
        """Rows as a published section has them, each still tied to the report it came from."""
        rows = cls()
        rows._units = list(section.units)
        rows._index = {unit: n for n, unit in enumerate(section.units)}
        for appliance_id, row in section.rows_by_appliance().items():
            source = section.sources.get(appliance_id)
            if source is not None:
                rows._rows[appliance_id] = (source, bytes(row))
        return rows

    @property
    def unit_count(self) -> int:
        return len(self._units)

    def update(
        self,
        reports: Mapping[str, HeldDigest | None],
        *,
        unit_order: UnitOrder,
        budget_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> RowsUpdate:
        """Bring the rows in line with `reports` (every non-retired appliance's last report)."""
        now = clock()
        dropped = 0
        for appliance_id in [a for a in self._rows if report_key(reports.get(a)) is None]:
            del self._rows[appliance_id]
            dropped += 1
        for appliance_id in [a for a in self._waiting_since if a not in reports]:
            del self._waiting_since[appliance_id]
        changed = []
        for appliance_id, held in reports.items():
            key = report_key(held)
            current = self._rows.get(appliance_id)
            if key is None or (current is not None and current[0] == key):
                self._waiting_since.pop(appliance_id, None)
                continue
            changed.append((self._waiting_since.setdefault(appliance_id, now), appliance_id, key))
        changed.sort()
        deadline = now + budget_s
        recomputed = 0
        for _, appliance_id, key in changed:
            if recomputed and clock() > deadline:
                break
            held = reports[appliance_id]
            if held is None or held.manifest_version is None:  # `key` was not None
                raise RuntimeError(f"{appliance_id}: a changed row with no report to build it")
            self._rows[appliance_id] = (key, self._row(appliance_id, held, unit_order))
            self._waiting_since.pop(appliance_id, None)
            recomputed += 1
        return RowsUpdate(
            recomputed=recomputed, deferred=len(changed) - recomputed, dropped=dropped
        )

    def _row(self, appliance_id: str, held: HeldDigest, unit_order: UnitOrder) -> bytes:
        version = held.manifest_version
        if version is None:
            raise RuntimeError(f"{appliance_id}: a holdings row needs a manifest version")
        order = unit_order(appliance_id, version)
        if order is None:
            logger.warning(
                "appliance %s reports manifest %s, which is not in S3; treating it as empty",
                appliance_id,
                version,
            )
            return b""
        try:
            if held.held_units is not None:
                held_in_order = list(
                    itertools.compress(order, held_unit_flags(len(order), held.held_units))
                )
            else:  # an older agent's missing keys
                units = held_units(order=order, held=held)
                held_in_order = [u for u in order if u in units]
        except ContractError as exc:
            logger.warning(
                "appliance %s: its held units do not fit manifest %s (%s); treating it as "
                "holding nothing until it reports them again",
                appliance_id,
                version,
                exc,
            )
            return b""
        return self._bitmap(held_in_order)

    def _bitmap(self, units: list[str]) -> bytes:
        """The row of `units`, numbering the new ones in the order given (so in runs)."""
        index = self._index
        found = list(map(index.get, units))
        if None in found:
            for n, unit in enumerate(units):
                if found[n] is None:
                    found[n] = index[unit] = len(self._units)
                    self._units.append(unit)
        positions = cast(list[int], found)
        # Hand-rolled because no kept library packs bits faster here (numpy is not a
        # control-plane dependency): one flag byte per unit set by a C-level map, then the
        # flags read as one base-2 integer (linear for base 2) and written out little-endian.
        flags = bytearray(len(self._units))
        deque(map(flags.__setitem__, positions, repeat(49)), maxlen=0)  # b"1"
        flags = flags.replace(b"\x00", b"0")
        size = row_bytes(len(self._units))
        return int(flags[::-1], 2).to_bytes(size, "little") if flags else b""

    def section(self) -> HoldingsSection:
        """The rows as a section: appliances holding something, rows padded to the table."""
        size = row_bytes(len(self._units))
        holders = sorted(a for a, (_, row) in self._rows.items() if row.strip(b"\0"))
        rows = b"".join(row + bytes(size - len(row)) for row in (self._rows[a][1] for a in holders))
        return HoldingsSection(
            units=tuple(self._units),
            appliance_ids=tuple(holders),
            rows=rows,
            sources={a: self._rows[a][0] for a in holders},
        )
