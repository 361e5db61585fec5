"""The steering snapshot's bytes: a pointer and three content-addressed sections in S3.

    steering/current.json                  SnapshotPointer: when the job last checked the fleet,
                                           and the key and sha256 of each section below
    steering/fleet/<sha256>.json.gz        FleetSection: sites (ISP, signing key id) and the
                                           Serving, healthy appliances (URL, weight)
    steering/holdings/<sha256>.bin         HoldingsSection: a unit table and, per appliance,
                                           a bitmap over it of the units it verifiably holds
    steering/prefixes/<sha256>.bin.gz      the client prefixes as a PrefixTable

Sections change at different rates (health every few seconds, holdings during a fill, prefixes
rarely), so a reader downloads only the ones whose sha256 changed. Sections are written first
and the pointer last: a pointer never names a section that is not there. Secrets are never in
the snapshot: a site carries the id of the key steering signs with, and the reader takes the
secret from the key store.

Bitmaps: row r, bit i (byte i // 8, bit i % 8, least significant first) is set when appliance
r holds unit i. Units are numbered in the order the job first saw them and never renumbered
(`holdings_rows`), so a row stays valid while the table grows.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from control_plane.steering.binary_frame import frame_header, read_frame_header

SNAPSHOT_FORMAT = 1
_HOLDINGS_MAGIC = b"EFSH1\n"
# Bounds a reader enforces before it inflates anything: well past production size (10,000
# appliances, 120,000 units, 1,000,000 prefixes), far below what would exhaust a Lambda.
MAX_UNITS = 2_000_000
MAX_APPLIANCES = 100_000
MAX_SECTION_BYTES = 1 << 30
_MAX_FLEET_JSON = 64 << 20
_MAX_PREFIX_TABLE = 256 << 20
_SHA256 = r"^[0-9a-f]{64}$"


class SnapshotFormatError(ValueError):
    """Bytes that are not a steering snapshot section, or not the one the pointer names."""


class SectionRef(BaseModel):
    """Where one section is and how to check it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^steering/(fleet|holdings|prefixes)/[0-9a-f]{64}\.[a-z.]+$")
    sha256: Annotated[str, Field(pattern=_SHA256)]
    size: int = Field(ge=0, le=MAX_SECTION_BYTES)


class SnapshotPointer(BaseModel):
    """`steering/current.json`. `checked_at` is when the job last compiled the fleet (written
    every run, changed or not): a reader measures the snapshot's age from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = SNAPSHOT_FORMAT
    checked_at: datetime
    fleet: SectionRef
    holdings: SectionRef
    prefixes: SectionRef
    prefix_count: int = Field(ge=0)


class SnapshotSite(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: str
    isp: str
    # The newest secret every Serving, healthy appliance of the site accepts; None: none is.
    key_id: str | None = None


class SnapshotAppliance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    appliance_id: str
    site_id: str
    cluster_id: str
    base_url: str
    weight: float = Field(gt=0, le=1)


class FleetSection(BaseModel):
    """Every site, and the appliances steering may send sessions to (Serving and healthy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = SNAPSHOT_FORMAT
    sites: list[SnapshotSite]
    appliances: list[SnapshotAppliance] = Field(max_length=MAX_APPLIANCES)
    # Non-retired appliances left out (not Serving, unhealthy, or never heard from).
    excluded: int = Field(default=0, ge=0)


def encode_fleet(section: FleetSection) -> bytes:
    return gzip.compress(section.model_dump_json().encode(), compresslevel=6, mtime=0)


def decode_fleet(data: bytes) -> FleetSection:
    try:
        raw = _inflate_gzip(data, limit=_MAX_FLEET_JSON)
        return FleetSection.model_validate_json(raw)
    except (OSError, EOFError, ValidationError) as exc:
        raise SnapshotFormatError(f"fleet section is unreadable: {exc}") from exc


@dataclass(frozen=True)
class HoldingsSection:
    """A unit table and one bitmap row per appliance over it; `sources` says, per appliance,
    which report its row was computed from (the job's; readers ignore it)."""

    units: tuple[str, ...]
    appliance_ids: tuple[str, ...]
    rows: bytes  # len(appliance_ids) rows of row_bytes(len(units)) bytes each
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = len(self.appliance_ids) * row_bytes(len(self.units))
        if len(self.rows) != expected:
            raise SnapshotFormatError(
                f"holdings rows are {len(self.rows)} bytes; {len(self.appliance_ids)} appliances "
                f"x {len(self.units)} units need {expected}"
            )

    def rows_by_appliance(self) -> dict[str, memoryview]:
        size = row_bytes(len(self.units))
        view = memoryview(self.rows)
        return {a: view[n * size : (n + 1) * size] for n, a in enumerate(self.appliance_ids)}


def row_bytes(unit_count: int) -> int:
    return (unit_count + 7) // 8


def encode_holdings(section: HoldingsSection) -> bytes:
    """Magic, a JSON header, then the zlib'd unit table and the zlib'd rows."""
    units = zlib.compress("\n".join(section.units).encode(), 6)
    # Level 1: 150 MB of rows in ~1.5 s (level 6: ~10 s, a whole pass) for ~35% more bytes.
    rows = zlib.compress(section.rows, 1)
    header = frame_header(
        _HOLDINGS_MAGIC,
        {
            "format": SNAPSHOT_FORMAT,
            "units": len(section.units),
            "appliances": list(section.appliance_ids),
            "sources": [section.sources.get(a, "") for a in section.appliance_ids],
            "units_bytes": len(units),
            "rows_bytes": len(rows),
        },
    )
    return b"".join((header, units, rows))


def decode_holdings(data: bytes) -> HoldingsSection:
    """The section `encode_holdings` wrote; SnapshotFormatError for anything else, checked
    against its bounds before inflating."""
    try:
        header, offset = read_frame_header(data, _HOLDINGS_MAGIC, what="holdings section")
    except ValueError as exc:
        raise SnapshotFormatError(str(exc)) from exc
    try:
        unit_count = int(header["units"])
        appliance_ids = tuple(str(a) for a in header["appliances"])
        sources = [str(source) for source in header.get("sources", [])]
        units_size, rows_size = int(header["units_bytes"]), int(header["rows_bytes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotFormatError(f"holdings section header is unreadable: {exc}") from exc
    if header.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotFormatError(f"holdings section format {header.get('format')!r} unknown")
    if not 0 <= unit_count <= MAX_UNITS or len(appliance_ids) > MAX_APPLIANCES:
        raise SnapshotFormatError(
            f"holdings section claims {unit_count} units and {len(appliance_ids)} appliances; "
            f"at most {MAX_UNITS} and {MAX_APPLIANCES}"
        )
    if len(data) != offset + units_size + rows_size or min(units_size, rows_size) < 0:
        raise SnapshotFormatError("holdings section is cut short or has trailing bytes")
    text = _inflate(data[offset : offset + units_size], limit=unit_count * 1024 + 1)
    rows = _inflate(data[offset + units_size :], limit=len(appliance_ids) * row_bytes(unit_count))
    units = tuple(text.decode().split("\n")) if unit_count else ()
    if len(units) != unit_count:
        raise SnapshotFormatError(f"holdings section lists {len(units)} units; header {unit_count}")
    if sources and len(sources) != len(appliance_ids):
        raise SnapshotFormatError("holdings section: sources and appliances differ in number")
    return HoldingsSection(
        units=units,
        appliance_ids=appliance_ids,
        rows=rows,
        sources={a: source for a, source in zip(appliance_ids, sources, strict=False) if source},
    )


def encode_prefixes(table_bytes: bytes) -> bytes:
    return gzip.compress(table_bytes, compresslevel=6, mtime=0)


def decode_prefixes(data: bytes) -> bytes:
    """The PrefixTable bytes inside a prefixes section."""
    try:
        return _inflate_gzip(data, limit=_MAX_PREFIX_TABLE)
    except (OSError, EOFError) as exc:
        raise SnapshotFormatError(f"prefixes section is unreadable: {exc}") from exc


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inflate(data: bytes, *, limit: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise SnapshotFormatError(f"holdings section: bad zlib data ({exc})") from exc
    if len(out) > limit or inflater.unconsumed_tail or not inflater.eof:
        raise SnapshotFormatError(
            "holdings section: a compressed part is cut short or inflates past its bound"
        )
    return out


def _inflate_gzip(data: bytes, *, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise OSError(f"not a gzip stream: {exc}") from exc
    if len(out) > limit or not inflater.eof or inflater.unused_data:
        raise OSError(f"gzip stream is cut short, has trailing data or inflates past {limit}")
    return out
