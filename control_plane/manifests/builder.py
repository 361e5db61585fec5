"""One appliance's manifest: the units placement gave it, each with ranked sources.

Sources, best first: appliances of the same cluster that already hold the unit (peer fill),
then appliances of the ISP's other clusters that hold it (tier fill), then the origin. A
manifest names each peer once in its source table (edgefill_contracts.manifest), with the
newest signing secret that peer accepts; each title carries one token per secret in use, valid
until the sources expire, so peers serve fills exactly as they serve clients. The origin is
named without URLs: the appliance asks the fleet API for them in batches at fill time.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from control_plane.catalog.units import CatalogUnit
from control_plane.common.rendezvous_hash import stable_id_hash
from control_plane.signing.keys import KeyRing, SigningKey
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import (
    MAX_TITLE_TOKENS,
    MAX_UNIT_SOURCES,
    Manifest,
    ManifestSource,
    ManifestTitle,
    ManifestUnit,
    manifest_header,
)
from edgefill_contracts.signing import compute_token

logger = logging.getLogger(__name__)

MAX_PEER_SOURCES = 3
MAX_TIER_SOURCES = 3
ORIGIN_SOURCE = ManifestSource(name="origin", kind="origin")


@dataclass(frozen=True, slots=True)
class FillMember:
    """An appliance as the manifest job sees it."""

    appliance_id: str
    cluster_id: str
    base_url: str
    byte_budget: int
    held_units: frozenset[str]
    accepted_secret_ids: frozenset[str]
    can_serve_fills: bool


def build_manifest(
    member: FillMember,
    assigned: Sequence[str],
    *,
    cluster_members: Sequence[FillMember],
    isp_members: Sequence[FillMember],
    units: Mapping[str, CatalogUnit],
    signing_keys: Sequence[SigningKey],
    fill_window: FillWindow,
    fill_opens: datetime,
    sources_expire_at: datetime,
    now: datetime,
) -> Manifest:
    """`member`'s manifest holding `assigned` (unit ids, most wanted first), each unit with its
    ranked sources. ValueError for a catalog file outside its unit's directory."""
    expires = int(sources_expire_at.timestamp())
    table = _SourceTable(KeyRing(signing_keys))
    by_title: dict[str, list[ManifestUnit]] = defaultdict(list)
    for rank, unit_id in enumerate(assigned):
        unit = units[unit_id]
        title_id, rendition = unit_id.split("/", 1)
        peers = [
            index
            for peer in _unit_sources(member, unit_id, cluster_members, isp_members)
            if (index := table.index_of(peer)) is not None
        ][: MAX_UNIT_SOURCES - 1]
        by_title[title_id].append(
            ManifestUnit(
                rendition=rendition,
                priority=len(assigned) - rank,
                sources=(*peers, table.origin_index()),
                files=tuple((_name_in_unit(unit_id, f.key), f.size, f.sha256) for f in unit.files),
            )
        )
    titles = [
        ManifestTitle(
            title=title_id,
            tokens={
                key.secret_id: compute_token(
                    secret=key.secret.get_secret_value(), scope=title_id, expires=expires
                )
                for key in table.keys_used()
            },
            units=tuple(title_units),
        )
        for title_id, title_units in sorted(by_title.items())
    ]
    sources = table.sources()
    header = manifest_header(
        appliance_id=member.appliance_id,
        version=content_version(titles, sources, member.byte_budget, fill_opens=fill_opens),
        generated_at=now,
        fill_window=fill_window,
        byte_budget=member.byte_budget,
        sources_expire_at=expires,
        sources=sources,
        titles=titles,
    )
    return Manifest(header=header, titles=tuple(titles))


def content_version(
    titles: Sequence[ManifestTitle],
    sources: Sequence[ManifestSource],
    byte_budget: int,
    *,
    fill_opens: datetime,
) -> str:
    """A version that changes whenever what the appliance must hold does, whenever the peers
    ranked before the origin (or the secret each is asked with) change, and once per fill
    window (whose opening it names), so each window's signed sources are fresh. Tokens are not
    hashed: they follow from the secret ids and the window."""
    digest = hashlib.sha256()
    digest.update(f"{byte_budget} {fill_opens.isoformat()}".encode())
    for title in sorted(titles, key=lambda t: t.title):
        for unit in title.units:
            ranked = " ".join(
                f"{sources[i].name}:{sources[i].secret_id or ''}" for i in unit.sources
            )
            digest.update(f"\n{title.title}/{unit.rendition} {unit.priority} {ranked}".encode())
            for name, size, sha256 in unit.files:
                digest.update(f"\n {name} {size} {sha256}".encode())
    return "m" + digest.hexdigest()[:32]


class _SourceTable:
    """One manifest's sources: each peer once, with the newest secret it accepts; origin last.

    Each site has its own keys, so peers of several sites need several tokens per title: a
    peer whose key would be one more than a title holds (MAX_TITLE_TOKENS) is left out, and
    the units it held fall back to their other sources and the origin.
    """

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._sources: list[ManifestSource] = []
        self._index: dict[str, int | None] = {}
        self._keys: dict[str, SigningKey] = {}
        self._origin: int | None = None

    def index_of(self, peer: FillMember) -> int | None:
        """The peer's index, or None when it accepts none of the active secrets."""
        if peer.appliance_id in self._index:
            return self._index[peer.appliance_id]
        key = self._ring.newest_of(peer.accepted_secret_ids)
        if (
            key is not None
            and key.secret_id not in self._keys
            and len(self._keys) >= MAX_TITLE_TOKENS
        ):
            key = None
        index: int | None = None
        if key is not None:
            index = len(self._sources)
            self._sources.append(
                ManifestSource(
                    name=peer.appliance_id,
                    kind="appliance",
                    base_url=peer.base_url.rstrip("/") + "/",
                    secret_id=key.secret_id,
                )
            )
            self._keys[key.secret_id] = key
        self._index[peer.appliance_id] = index
        return index

    def origin_index(self) -> int:
        if self._origin is None:
            self._origin = len(self._sources)
            self._sources.append(ORIGIN_SOURCE)
        return self._origin

    def keys_used(self) -> list[SigningKey]:
        return list(self._keys.values())

    def sources(self) -> list[ManifestSource]:
        return list(self._sources)


def _name_in_unit(unit_id: str, key: str) -> str:
    """A file's name inside its unit's directory; ValueError for a key outside it."""
    prefix = unit_id + "/"
    name = key[len(prefix) :] if key.startswith(prefix) else ""
    if not name or "/" in name:
        raise ValueError(f"catalog file {key!r} is not directly inside its unit {unit_id!r}")
    return name


def _unit_sources(
    member: FillMember,
    unit_id: str,
    cluster_members: Sequence[FillMember],
    isp_members: Sequence[FillMember],
) -> list[FillMember]:
    def holders(candidates: Sequence[FillMember]) -> list[FillMember]:
        found = [
            c
            for c in candidates
            if c.appliance_id != member.appliance_id
            and c.can_serve_fills
            and unit_id in c.held_units
        ]
        # Spread the cluster's fills of one unit over its holders, the same way every run.
        return sorted(
            found, key=lambda c: stable_id_hash(f"{unit_id}|{member.appliance_id}|{c.appliance_id}")
        )

    peers = holders(cluster_members)[:MAX_PEER_SOURCES]
    tier = holders([m for m in isp_members if m.cluster_id != member.cluster_id])
    return peers + tier[:MAX_TIER_SOURCES]
