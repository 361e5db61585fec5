"""Schema-2 manifests for tests, written the way tests think: each file with its ranked URLs.

`manifest_of(files, sources)` turns per-file URL lists into the manifest's source table: the
last URL of each file is the origin (reached through the fleet API: `origin_urls` maps each
key to the URL the fleet stub hands out), a signed peer fill path (``/f/<id>/<token>/<exp>/...``)
becomes an appliance source with that secret id and the title's token, and any other URL a
plain source whose prefix is the URL without the key (and whose query, if any, is shared).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from appliance_agent.download import ObjectToFetch
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import (
    Manifest,
    ManifestSource,
    ManifestTitle,
    ManifestUnit,
    encode_manifest,
    manifest_header,
)
from edgefill_contracts.signing import FILL_PREFIX, parse_signed_path

ORIGIN = "origin"


@dataclass(frozen=True)
class File:
    key: str
    size: int
    sha256: str
    priority: int = 0


@dataclass
class BuiltManifest:
    manifest: Manifest
    origin_urls: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        return encode_manifest(self.manifest.header, self.manifest.titles)


def manifest_of(
    files: Sequence[ObjectToFetch],
    sources: Callable[[ObjectToFetch], list[str]] | None = None,
    *,
    appliance_id: str = "a1",
    version: str = "v1",
    byte_budget: int = 1 << 50,
    fill_window: FillWindow | None = None,
    priority: Callable[[ObjectToFetch], int] | None = None,
) -> BuiltManifest:
    """The manifest listing `files` (in units by their first two key segments) with their URLs.
    Without `sources`, each file has only the origin, at ``http://origin.invalid/<key>``."""
    table: list[ManifestSource] = []
    index_of: dict[tuple[str, str | None, str | None], int] = {}
    origin_urls: dict[str, str] = {}
    expires: set[int] = set()
    units: dict[str, dict[str, tuple[int, tuple[int, ...], list[tuple[str, int, str]]]]] = {}
    tokens: dict[str, dict[str, str]] = {}

    def source(base: str, secret_id: str | None, query: str | None, name: str) -> int:
        ident = (base, secret_id, query)
        if ident not in index_of:
            index_of[ident] = len(table)
            table.append(
                ManifestSource(
                    name=name, kind="appliance", base_url=base, secret_id=secret_id, query=query
                )
            )
        return index_of[ident]

    def origin() -> int:
        ident = (ORIGIN, None, None)
        if ident not in index_of:
            index_of[ident] = len(table)
            table.append(ManifestSource(name=ORIGIN, kind="origin"))
        return index_of[ident]

    for f in files:
        title, rendition, name = f.key.split("/", 2)
        urls = sources(f) if sources else [f"http://origin.invalid/{f.key}"]
        ranked: list[int] = []
        for rank, url in enumerate(urls):
            if rank == len(urls) - 1:
                origin_urls[f.key] = url
                ranked.append(origin())
                continue
            parts = urlsplit(url)
            host = f"{parts.scheme}://{parts.netloc}/"
            if parts.path.startswith(FILL_PREFIX + "/"):
                signed = parse_signed_path(parts.path)
                tokens.setdefault(title, {})[signed.secret_id] = signed.token
                expires.add(signed.expires)
                ranked.append(source(host, signed.secret_id, None, parts.netloc))
            else:
                without_query = url.split("?", 1)[0]
                if not without_query.endswith("/" + f.key):
                    raise ValueError(f"source {url!r} does not end with the key {f.key!r}")
                ranked.append(
                    source(without_query[: -len(f.key)], None, parts.query or None, parts.netloc)
                )
        unit_priority = priority(f) if priority else getattr(f, "priority", 0)
        known = units.setdefault(title, {}).get(rendition)
        if known is None:
            units[title][rendition] = (unit_priority, tuple(ranked), [(name, f.size, f.sha256)])
        else:
            if known[:2] != (unit_priority, tuple(ranked)):
                raise ValueError(f"files of {title}/{rendition} differ in priority or sources")
            known[2].append((name, f.size, f.sha256))
    if len(expires) > 1:
        raise ValueError(f"signed sources expire at different times: {sorted(expires)}")
    titles = [
        ManifestTitle(
            title=title,
            tokens=tokens.get(title, {}),
            units=tuple(
                ManifestUnit(rendition=r, priority=p, sources=ranked, files=tuple(fs))
                for r, (p, ranked, fs) in by_rendition.items()
            ),
        )
        for title, by_rendition in units.items()
    ]
    header = manifest_header(
        appliance_id=appliance_id,
        version=version,
        generated_at=datetime.now(UTC),
        fill_window=fill_window
        or FillWindow(start="02:00", end="14:00", timezone="Europe/Amsterdam"),
        byte_budget=byte_budget,
        sources_expire_at=expires.pop() if expires else 1_900_000_000,
        sources=table,
        titles=titles,
    )
    return BuiltManifest(Manifest(header=header, titles=tuple(titles)), origin_urls)


def decoded_lines(body: bytes) -> list[str]:
    """A gzip'd manifest body's lines (to make a hostile variant of a good one)."""
    return gzip.decompress(body).decode().splitlines()


def encoded_lines(lines: Sequence[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
