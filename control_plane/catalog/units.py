"""Content units and their files, read from the catalog service's table.

Placement places these units and the popularity fold sizes them; both read them from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from control_plane.common.settings import ServiceSettings
from edgefill_contracts.object_key import content_unit


@dataclass(frozen=True, slots=True)
class UnitFile:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class CatalogUnit:
    """One title rendition with its files (playlist and segments)."""

    unit_id: str
    files: tuple[UnitFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def units_from_catalog(settings: ServiceSettings) -> Iterator[CatalogUnit]:
    """Every rendition of every title in the catalog (control_plane.catalog's table)."""
    from control_plane.catalog.store import CatalogStore

    for title in CatalogStore.from_settings(settings).scan():
        for rendition in title.renditions:
            yield CatalogUnit(
                unit_id=content_unit(title.title_id, rendition.name),
                files=tuple(
                    UnitFile(key=f.key, size=f.size, sha256=f.sha256) for f in rendition.files
                ),
            )
