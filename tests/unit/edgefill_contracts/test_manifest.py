"""The schema-2 manifest decodes whole or not at all, and builds each source's URL exactly."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import (
    InvalidManifest,
    Manifest,
    ManifestSource,
    decode_manifest,
    encode_manifest,
    manifest_header,
)
from edgefill_contracts.signing import compute_token, sign_fill_path

SHA_A = "a" * 64
SHA_B = "b" * 64
EXPIRES = 1_900_000_000
SECRET = "peer-secret-0123456789"

SOURCES = (
    ManifestSource(
        name="ams-02", kind="appliance", base_url="https://ams-02.isp.example/", secret_id="k1"
    ),
    ManifestSource(
        name="mirror", kind="origin", base_url="http://mirror.example/content/", query="sig=abc"
    ),
    ManifestSource(name="origin", kind="origin"),
)


def title(name: str = "title-1", **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "title": name,
        "tokens": {"k1": compute_token(secret=SECRET, scope=name, expires=EXPIRES)},
        "units": [
            {
                "rendition": "720p",
                "priority": 5,
                "sources": [0, 1, 2],
                "files": [["index.m3u8", 10, SHA_A], ["media.mp4", 1000, SHA_B]],
            }
        ],
    }
    doc.update(overrides)
    return doc


def body(titles: list[dict[str, Any]], **header: Any) -> bytes:
    """A body with the header counts computed from `titles` as given (valid or not)."""
    files = [f for t in titles for u in t.get("units", []) for f in u.get("files", [])]
    head = manifest_header(
        appliance_id="ams-01",
        version="m1",
        generated_at=datetime(2026, 12, 7, tzinfo=UTC),
        fill_window=FillWindow(),
        byte_budget=10_000,
        sources_expire_at=EXPIRES,
        sources=SOURCES,
        titles=[],
    ).model_dump(mode="json")
    head |= {"title_count": len(titles), "file_count": len(files)}
    head |= {"total_bytes": sum(f[1] for f in files if isinstance(f[1], int) and f[1] > 0)}
    lines = [json.dumps(head | header)] + [json.dumps(t) for t in titles]
    return gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def test_round_trip_keeps_every_file_with_its_unit_priority_and_sources() -> None:
    titles = [title("title-1"), title("title-2")]
    manifest = decode_manifest(body(titles))
    again = decode_manifest(encode_manifest(manifest.header, manifest.titles))
    assert again == manifest
    entries = list(manifest.entries())
    assert [e.key for e in entries] == [
        "title-1/720p/index.m3u8",
        "title-1/720p/media.mp4",
        "title-2/720p/index.m3u8",
        "title-2/720p/media.mp4",
    ]
    assert {e.unit for e in entries} == {"title-1/720p", "title-2/720p"}
    assert entries[1].size == 1000 and entries[1].sha256 == SHA_B and entries[1].priority == 5
    assert manifest.total_bytes == 2020
    assert list(manifest.units()) == ["title-1/720p", "title-2/720p"]


def test_encoding_is_deterministic() -> None:
    manifest = decode_manifest(body([title()]))
    assert encode_manifest(manifest.header, manifest.titles) == encode_manifest(
        manifest.header, manifest.titles
    )


def test_source_urls_are_the_signed_path_nginx_checks_the_mirror_with_query_and_origin_none() -> (
    None
):
    manifest = decode_manifest(body([title()]))
    entry = next(e for e in manifest.entries() if e.key.endswith("media.mp4"))
    signed = sign_fill_path(secret_id="k1", secret=SECRET, key=entry.key, expires=EXPIRES)
    assert manifest.source_url(entry, 0) == "https://ams-02.isp.example" + signed
    assert manifest.source_url(entry, 1) == (
        "http://mirror.example/content/title-1/720p/media.mp4?sig=abc"
    )
    assert manifest.source_url(entry, 2) is None


def _cut(data: bytes, lines: int) -> bytes:
    text = gzip.decompress(data).decode().splitlines(keepends=True)
    return gzip.compress("".join(text[:lines]).encode(), mtime=0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"not gzip at all", "gzip"),
        (body([title()])[:-12], "gzip"),
        (_cut(body([title("a1"), title("a2")]), 2), "cut short"),
        (gzip.compress(b"[1]\n", mtime=0), "not a JSON object"),
        (gzip.compress(b"{\n", mtime=0), "not JSON"),
        (body([title()], schema_version=1), "schema version 1"),
        (body([title()], title_count=0), "more titles"),
        (body([title()], file_count=1), "more files"),
        (body([title()], total_bytes=5), "cut short"),
        (body([title()], byte_budget=100, total_bytes=2020), "byte budget"),
        (body([title(), title()]), "listed twice"),
        (body([title(units=[title()["units"][0], title()["units"][0]])]), "rendition '720p'"),
        (
            body(
                [title(units=[dict(title()["units"][0], files=[["a", 1, SHA_A], ["a", 1, SHA_A]])])]
            ),
            "listed twice",
        ),
        (body([title(units=[dict(title()["units"][0], sources=[7])])]), "names source 7"),
        (body([title(tokens={})]), "no token for secret 'k1'"),
        (
            body([title(units=[dict(title()["units"][0], files=[["../x", 1, SHA_A]])])]),
            "title is invalid",
        ),
        (
            body([title(units=[dict(title()["units"][0], files=[["x", -1, SHA_A]])])]),
            "title is invalid",
        ),
        (
            body([title(units=[dict(title()["units"][0], files=[["x", 1, "A" * 64]])])]),
            "title is invalid",
        ),
        (body([title(units=[dict(title()["units"][0], sources=[])])]), "title is invalid"),
        (
            body([title("t" * 254, units=[dict(title()["units"][0], rendition="r" * 254)])]),
            "over 512",
        ),
        (body([title(extra="x")]), "title is invalid"),
    ],
)
def test_bad_bodies_are_refused_whole_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidManifest, match=reason):
        decode_manifest(data)


def test_a_gzip_bomb_stops_at_the_decompressed_limit() -> None:
    data = body([title(f"title-{i}") for i in range(50)], byte_budget=10**9)
    with pytest.raises(InvalidManifest, match="decompressed limit"):
        decode_manifest(data, max_decompressed_bytes=4_000)
    assert isinstance(decode_manifest(data), Manifest)


def test_a_line_without_end_stops_at_the_line_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgefill_contracts.manifest as module

    monkeypatch.setattr(module, "MAX_LINE_BYTES", 64)
    with pytest.raises(InvalidManifest, match="line 1: line is over 64 bytes"):
        decode_manifest(body([title()]))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"name": "p", "kind": "appliance", "base_url": "https://p.example/x"}, "end with '/'"),
        ({"name": "p", "kind": "appliance", "base_url": "https://p.example/?a=1"}, "end with '/'"),
        ({"name": "p", "kind": "appliance"}, "only an origin"),
        ({"name": "origin", "kind": "origin", "query": "a=1"}, "only an origin"),
        ({"name": "p", "kind": "origin", "base_url": "https://o/", "query": "a#b"}, "URL-safe"),
        ({"name": "p", "kind": "peer"}, "kind"),
        ({"name": "../p", "kind": "origin"}, "name"),
    ],
)
def test_bad_sources_are_refused(source: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ManifestSource.model_validate(source)
