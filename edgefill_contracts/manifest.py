"""The fill manifest at production size: units with shared sources, as gzip'd JSON Lines.

An appliance near the whole catalog holds ~20,000 titles x 7 renditions (audio included), each
rendition one media file and its playlist: ~280,000 files. Per-file source URLs (schema 1)
make that ~100 MB of JSON; this format keeps what is per file to its name, size and sha256,
and says where to fetch once per unit, by index into one table of sources.

Wire form (``application/x-ndjson``, gzip-compressed as a whole, ``.jsonl.gz`` in S3):

    line 1      ManifestHeader   schema 2, appliance, version, window, budget, the source table,
                                 and the counts that let a reader detect a cut-short body
    line 2..    ManifestTitle    one per title: its URL tokens and its units (renditions),
                                 each with a priority, ranked source indices and its files

JSON Lines rather than one JSON document so the appliance validates title by title: peak
memory is the decoded result, not the result plus a whole parsed document (measured in
`bench/bench_manifest.py`).

URL of a file ``<title>/<rendition>/<name>`` from a source with ``base_url``:

    base_url + [f/<secret_id>/<token>/<expires>/] + <title>/<rendition>/<name> [+ "?" + query]

The bracketed part is present when the source names a `secret_id` (an appliance's nginx
`secure_link`, see `edgefill_contracts.signing`): a fill path, whose token is the title's, so
one token per title and secret covers every file of the title on every peer that accepts that
secret. A
source with no `base_url` is the origin reached through the fleet API, which hands out
short-lived URLs for batches of keys at fill time.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Annotated, Final, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from edgefill_contracts.errors import ContractError
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.object_key import MAX_KEY_LENGTH
from edgefill_contracts.signing import FILL_PREFIX

MANIFEST_SCHEMA_VERSION: Final = 2
MANIFEST_MEDIA_TYPE: Final = "application/x-ndjson"
MAX_MANIFEST_TITLES: Final = 100_000
MAX_MANIFEST_FILES: Final = 500_000
MAX_MANIFEST_SOURCES: Final = 1_024
MAX_UNIT_SOURCES: Final = 16
MAX_TITLE_UNITS: Final = 64
MAX_UNIT_FILES: Final = 4_096
MAX_TITLE_TOKENS: Final = 8
# One title line: 64 units x a few files at ~110 bytes each stays far below this.
MAX_LINE_BYTES: Final = 4 * 1024 * 1024
# The decompressed body: 500,000 files at ~120 bytes each, with room; a gzip bomb stops here.
MAX_DECOMPRESSED_BYTES: Final = 256 * 1024 * 1024

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,254}$"
# bandit B105: a pattern, not a secret.
_SECRET_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"  # nosec B105
# bandit B105: a pattern, not a secret.
_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{22}$"  # nosec B105
SHA256_PATTERN: Final = r"^[0-9a-f]{64}$"
# A manifest version ("m" + hex from the job); also its HTTP ETag and part of its S3 key.
MANIFEST_VERSION_PATTERN: Final = r"^[A-Za-z0-9._-]{1,128}$"

PathComponent = Annotated[str, StringConstraints(pattern=_NAME_PATTERN)]
SecretId = Annotated[str, StringConstraints(pattern=_SECRET_ID_PATTERN)]
Token = Annotated[str, StringConstraints(pattern=_TOKEN_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
Size = Annotated[int, Field(ge=0)]
SourceIndex = Annotated[int, Field(ge=0, lt=MAX_MANIFEST_SOURCES)]
# A file inside its unit's directory: one path component (`index.m3u8`, `media.mp4`).
ManifestFile = tuple[PathComponent, Size, Sha256]

_QUERY = re.compile(r"^[A-Za-z0-9._~%=&+/:-]{1,2048}$")


class ManifestSource(BaseModel):
    """One place to fetch from: a peer appliance, a plain mirror, or the origin via the fleet API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
        description="The appliance id, or 'origin': what fill reports count bytes by.",
    )
    kind: Literal["appliance", "origin"]
    base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Prefix every object URL starts with (ends with '/'); None: the origin, "
        "whose URLs the fleet API hands out per batch of keys at fill time.",
    )
    secret_id: SecretId | None = Field(
        default=None, description="Signed paths: which of the title's tokens this source checks."
    )
    query: str | None = Field(
        default=None, description="Appended after '?' to every object URL (the same for all)."
    )

    @field_validator("base_url")
    @classmethod
    def _prefix(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is None:
            return None
        text = str(value)
        if not text.endswith("/") or value.query is not None or value.fragment is not None:
            raise ValueError(f"base_url {text!r} must end with '/' and carry no query or fragment")
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if value is not None and not _QUERY.match(value):
            raise ValueError("query must be 1-2048 URL-safe characters, without '?' or '#'")
        return value

    @model_validator(mode="after")
    def _origin_only_without_base(self) -> ManifestSource:
        if self.base_url is None and (self.kind != "origin" or self.secret_id or self.query):
            raise ValueError("only an origin source may omit base_url, and then nothing else")
        return self


class ManifestHeader(BaseModel):
    """The first line: whose manifest, which version, the source table and what follows."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[2] = MANIFEST_SCHEMA_VERSION
    appliance_id: str = Field(min_length=1, max_length=128)
    version: str = Field(pattern=MANIFEST_VERSION_PATTERN)
    generated_at: datetime
    fill_window: FillWindow
    byte_budget: int = Field(ge=0)
    sources_expire_at: int = Field(gt=0, description="Unix time the signed source paths carry.")
    sources: tuple[ManifestSource, ...] = Field(max_length=MAX_MANIFEST_SOURCES)
    title_count: int = Field(ge=0, le=MAX_MANIFEST_TITLES)
    file_count: int = Field(ge=0, le=MAX_MANIFEST_FILES)
    total_bytes: int = Field(ge=0)

    @model_validator(mode="after")
    def _within_budget(self) -> ManifestHeader:
        if self.total_bytes > self.byte_budget:
            raise ValueError(
                f"objects total {self.total_bytes} bytes, over the manifest's byte budget of "
                f"{self.byte_budget}"
            )
        return self


class ManifestUnit(BaseModel):
    """One rendition of a title: fill priority, ranked sources (best first) and its files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rendition: PathComponent
    priority: int = Field(default=0, ge=0, description="Higher fills first.")
    sources: tuple[SourceIndex, ...] = Field(min_length=1, max_length=MAX_UNIT_SOURCES)
    files: tuple[ManifestFile, ...] = Field(min_length=1, max_length=MAX_UNIT_FILES)


class ManifestTitle(BaseModel):
    """One line after the header: a title's URL tokens (per secret id) and its units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: PathComponent
    tokens: dict[SecretId, Token] = Field(default_factory=dict, max_length=MAX_TITLE_TOKENS)
    units: tuple[ManifestUnit, ...] = Field(min_length=1, max_length=MAX_TITLE_UNITS)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file of a manifest, as a fill walks them: key, size, sha256, priority, sources."""

    key: str
    size: int
    sha256: str
    priority: int
    unit: str
    sources: tuple[int, ...]
    title: ManifestTitle


class InvalidManifest(ContractError):
    """A manifest body that is not a whole, valid schema-2 manifest; `line` is 1-based or 0."""

    def __init__(self, message: str, *, line: int = 0) -> None:
        super().__init__(message if line == 0 else f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Manifest:
    """A decoded manifest: its header and its titles, validated whole."""

    header: ManifestHeader
    titles: tuple[ManifestTitle, ...]

    @property
    def appliance_id(self) -> str:
        return self.header.appliance_id

    @property
    def version(self) -> str:
        return self.header.version

    @property
    def total_bytes(self) -> int:
        return self.header.total_bytes

    @property
    def byte_budget(self) -> int:
        return self.header.byte_budget

    @property
    def fill_window(self) -> FillWindow:
        return self.header.fill_window

    @property
    def generated_at(self) -> datetime:
        return self.header.generated_at

    def entries(self) -> Iterator[ManifestEntry]:
        """Every file, title by title, unit by unit (made on the fly: nothing is kept)."""
        for title in self.titles:
            for unit in title.units:
                unit_id = f"{title.title}/{unit.rendition}"
                for name, size, sha256 in unit.files:
                    yield ManifestEntry(
                        key=f"{unit_id}/{name}",
                        size=size,
                        sha256=sha256,
                        priority=unit.priority,
                        unit=unit_id,
                        sources=unit.sources,
                        title=title,
                    )

    def units(self) -> Iterator[str]:
        """Every unit id (``<title>/<rendition>``) the manifest lists."""
        for title in self.titles:
            for unit in title.units:
                yield f"{title.title}/{unit.rendition}"

    def source_url(self, entry: ManifestEntry, index: int) -> str | None:
        """The URL of `entry` at source `index`; None for the origin reached through the fleet."""
        source = self.header.sources[index]
        if source.base_url is None:
            return None
        url = str(source.base_url)
        if source.secret_id is not None:
            token = entry.title.tokens[source.secret_id]
            url += f"{FILL_PREFIX[1:]}/{source.secret_id}/{token}/{self.header.sources_expire_at}/"
        url += entry.key
        return url if source.query is None else f"{url}?{source.query}"


def encode_manifest(header: ManifestHeader, titles: Iterable[ManifestTitle]) -> bytes:
    """The gzip'd JSON Lines body of a manifest; the header's counts must match `titles`."""
    buffer = io.BytesIO()
    # mtime=0: the same manifest always compresses to the same bytes (and the same ETag).
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as out:
        out.write(header.model_dump_json().encode() + b"\n")
        for title in titles:
            out.write(title.model_dump_json().encode() + b"\n")
    return buffer.getvalue()


def decode_manifest(
    body: IO[bytes] | bytes, *, max_decompressed_bytes: int = MAX_DECOMPRESSED_BYTES
) -> Manifest:
    """Decode and check a gzip'd body whole: InvalidManifest saying where and why otherwise.

    Checks beyond each line's schema: every source index exists, every signed source has the
    title's token, no title, rendition or file twice, keys within MAX_KEY_LENGTH, and the
    header's counts and total match what followed (a body cut short is refused, not half-read).
    """
    raw = io.BytesIO(body) if isinstance(body, bytes) else body
    reader = gzip.GzipFile(fileobj=raw, mode="rb")
    budget = _Budget(max_decompressed_bytes)
    try:
        with _cyclic_collector_paused():
            return _decode_lines(_lines(reader, budget))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InvalidManifest(f"manifest body is not complete gzip data: {exc}") from exc


@contextlib.contextmanager
def _cyclic_collector_paused() -> Iterator[None]:
    """Decoding allocates ~1 M objects and keeps them; each full pass of the cyclic collector
    walks all kept so far, which doubled the decode time (measured: 1.98 s -> 0.95 s for
    280,000 files). The decoded models hold no reference cycles, so reference counting alone
    frees everything; the collector runs again as before once decoding ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class _Budget:
    left: int


def _lines(reader: gzip.GzipFile, budget: _Budget) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        line = reader.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        budget.left -= len(line)
        if budget.left < 0:
            raise InvalidManifest("manifest is larger than the decompressed limit", line=number)
        if len(line) > MAX_LINE_BYTES:
            raise InvalidManifest(f"line is over {MAX_LINE_BYTES} bytes", line=number)
        yield number, line


def _decode_lines(lines: Iterator[tuple[int, bytes]]) -> Manifest:
    first = next(lines, None)
    if first is None:
        raise InvalidManifest("manifest body is empty")
    header = _header(first[1])
    signed = {i: s.secret_id for i, s in enumerate(header.sources) if s.secret_id is not None}
    titles: list[ManifestTitle] = []
    seen_titles: set[str] = set()
    files = 0
    total = 0
    for number, line in lines:
        if len(titles) == header.title_count:
            raise InvalidManifest("more titles than the header's title_count", line=number)
        title = _title(line, number)
        if title.title in seen_titles:
            raise InvalidManifest(f"title {title.title!r} listed twice", line=number)
        seen_titles.add(title.title)
        renditions: set[str] = set()
        for unit in title.units:
            if unit.rendition in renditions:
                raise InvalidManifest(
                    f"rendition {unit.rendition!r} of {title.title!r} listed twice", line=number
                )
            renditions.add(unit.rendition)
            _check_sources(title, unit, header, signed, number)
            names: set[str] = set()
            prefix = len(title.title) + len(unit.rendition) + 2
            for name, size, _ in unit.files:
                if name in names:
                    raise InvalidManifest(
                        f"file {title.title}/{unit.rendition}/{name} listed twice", line=number
                    )
                names.add(name)
                if prefix + len(name) > MAX_KEY_LENGTH:
                    raise InvalidManifest(
                        f"key of {name!r} in {title.title}/{unit.rendition} is over "
                        f"{MAX_KEY_LENGTH} characters",
                        line=number,
                    )
                total += size
            files += len(unit.files)
        if files > header.file_count:
            raise InvalidManifest("more files than the header's file_count", line=number)
        titles.append(title)
    if (
        len(titles) != header.title_count
        or files != header.file_count
        or total != header.total_bytes
    ):
        raise InvalidManifest(
            f"body has {len(titles)} titles, {files} files and {total} bytes; the header says "
            f"{header.title_count}, {header.file_count} and {header.total_bytes} (cut short?)"
        )
    return Manifest(header=header, titles=tuple(titles))


def _header(line: bytes) -> ManifestHeader:
    try:
        document = json.loads(line)
    except ValueError as exc:
        raise InvalidManifest(f"header is not JSON: {exc}", line=1) from exc
    if not isinstance(document, dict):
        raise InvalidManifest("header is not a JSON object", line=1)
    version = document.get("schema_version")
    if version != MANIFEST_SCHEMA_VERSION:
        raise InvalidManifest(
            f"manifest schema version {version!r} is not {MANIFEST_SCHEMA_VERSION}",
            line=1,
        )
    try:
        return ManifestHeader.model_validate(document)
    except ValidationError as exc:
        raise InvalidManifest(_first_error("header", exc), line=1) from exc


def _title(line: bytes, number: int) -> ManifestTitle:
    try:
        return ManifestTitle.model_validate_json(line)
    except ValidationError as exc:
        raise InvalidManifest(_first_error("title", exc), line=number) from exc


def _check_sources(
    title: ManifestTitle,
    unit: ManifestUnit,
    header: ManifestHeader,
    signed: dict[int, str],
    number: int,
) -> None:
    for index in unit.sources:
        if index >= len(header.sources):
            raise InvalidManifest(
                f"{title.title}/{unit.rendition} names source {index}; the header has "
                f"{len(header.sources)}",
                line=number,
            )
        secret_id = signed.get(index)
        if secret_id is not None and secret_id not in title.tokens:
            raise InvalidManifest(
                f"{title.title} has no token for secret {secret_id!r}, which source "
                f"{header.sources[index].name!r} checks",
                line=number,
            )


def _first_error(what: str, exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or f"({what})"
    return f"{what} is invalid ({exc.error_count()} errors; first at {where}: {first['msg']})"


def manifest_header(
    *,
    appliance_id: str,
    version: str,
    generated_at: datetime,
    fill_window: FillWindow,
    byte_budget: int,
    sources_expire_at: int,
    sources: Sequence[ManifestSource],
    titles: Sequence[ManifestTitle],
) -> ManifestHeader:
    """The header for `titles`, with its counts and total computed from them."""
    files = 0
    total = 0
    for title in titles:
        for unit in title.units:
            files += len(unit.files)
            total += sum(size for _, size, _ in unit.files)
    return ManifestHeader(
        appliance_id=appliance_id,
        version=version,
        generated_at=generated_at,
        fill_window=fill_window,
        byte_budget=byte_budget,
        sources_expire_at=sources_expire_at,
        sources=tuple(sources),
        title_count=len(titles),
        file_count=files,
        total_bytes=total,
    )
