"""A manifest is validated whole and rejected whole, with a reason a person can act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from appliance_agent.errors import ManifestRejected
from appliance_agent.manifest_validation import parse_manifest
from edgefill_contracts import Manifest

SHA = "ab" * 32


def _parse(body: bytes, byte_budget: int = 10_000) -> Manifest:
    return parse_manifest(body, appliance_id="ams-1-a", byte_budget=byte_budget)


def _document(objects: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schema_version": 1,
        "appliance_id": "ams-1-a",
        "version": "v7",
        "generated_at": datetime.now(UTC).isoformat(),
        "fill_window": {"start": "02:00", "end": "14:00", "timezone": "UTC"},
        "byte_budget": 5_000,
        "objects": objects
        if objects is not None
        else [{"key": "t1/a.bin", "size": 10, "sha256": SHA, "sources": ["http://o.test/a"]}],
    }
    document.update(fields)
    return document


def _obj(key: str, size: int = 10) -> dict[str, Any]:
    return {"key": key, "size": size, "sha256": SHA, "sources": ["http://o.test/a"]}


def test_a_valid_manifest_parses() -> None:
    manifest = _parse(json.dumps(_document()).encode())
    assert manifest.version == "v7" and [o.key for o in manifest.objects] == ["t1/a.bin"]


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (_document(schema_version=2), "schema version 2 is not one this agent reads"),
        (_document([_obj("t1/a.bin"), _obj("t1/a.bin")]), "duplicate object key"),
        (_document([_obj("t1/../../etc/passwd")]), "'..'"),
        (_document([_obj("/etc/passwd")]), "absolute"),
        (_document([_obj("t1/a\x00.bin")]), "NUL"),
        (_document([_obj("t1/" + "a" * 600)]), "limit is 512"),
        (_document([_obj("t1/a.bin", size=-1)]), "greater than or equal to 0"),
        (_document([_obj("t1/a.bin", size=6_000)]), "over the manifest's byte budget"),
        (_document(appliance_id="ams-9-z"), "not 'ams-1-a'"),
        (_document(byte_budget=50_000, objects=[_obj("t1/a", 20_000)]), "configured byte budget"),
    ],
    ids=[
        "schema",
        "duplicate",
        "dotdot",
        "absolute",
        "nul",
        "overlong",
        "negative",
        "over-manifest-budget",
        "other-appliance",
        "over-agent-budget",
    ],
)
def test_a_bad_manifest_is_rejected_whole_with_its_reason(
    document: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ManifestRejected) as caught:
        _parse(json.dumps(document).encode())
    assert reason in str(caught.value)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_rejected(body: bytes) -> None:
    with pytest.raises(ManifestRejected, match="not"):
        _parse(body)
