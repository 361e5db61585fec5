"""The manifest contract rejects every bad manifest as a whole, with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from edgefill_contracts import Manifest

SHA = "a" * 64


def manifest_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "appliance_id": "ams-01",
        "version": "v1",
        "generated_at": datetime(2026, 11, 25, tzinfo=UTC).isoformat(),
        "fill_window": {"start": "02:00", "end": "14:00", "timezone": "Europe/Amsterdam"},
        "byte_budget": 1000,
        "objects": [
            {
                "key": "title-1/720p/seg_0001.ts",
                "size": 10,
                "sha256": SHA,
                "sources": ["http://origin/x"],
            }
        ],
    }
    base.update(overrides)
    return base


def with_key(key: str) -> dict[str, Any]:
    return manifest_dict(
        objects=[{"key": key, "size": 1, "sha256": SHA, "sources": ["http://o/x"]}]
    )


def test_valid_manifest_round_trips_through_json() -> None:
    manifest = Manifest.model_validate(manifest_dict())
    again = Manifest.model_validate(json.loads(manifest.model_dump_json()))
    assert again == manifest
    assert again.total_bytes == 10


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (manifest_dict(schema_version=2), "schema_version"),
        (with_key("../etc/passwd"), "'..'"),
        (with_key("title/../../x"), "'..'"),
        (with_key("/etc/passwd"), "absolute"),
        (with_key("title/a\x00b"), "NUL"),
        (with_key("title/" + "a" * 600), "limit"),
        (with_key("justafile"), "title directory"),
        (with_key("title//x"), "empty"),
        (with_key("title/.hidden"), "punctuation"),
        (with_key("title\\x/y"), "backslash"),
        (
            manifest_dict(
                objects=[
                    {"key": "t/a", "size": 1, "sha256": SHA, "sources": ["http://o/a"]},
                    {"key": "t/a", "size": 1, "sha256": SHA, "sources": ["http://o/a"]},
                ]
            ),
            "duplicate",
        ),
        (
            manifest_dict(
                objects=[{"key": "t/a", "size": -1, "sha256": SHA, "sources": ["http://o"]}]
            ),
            "greater than or equal",
        ),
        (manifest_dict(byte_budget=5), "over the manifest's byte budget"),
        (
            manifest_dict(
                objects=[{"key": "t/a", "size": 1, "sha256": "xyz", "sources": ["http://o"]}]
            ),
            "pattern",
        ),
        (
            manifest_dict(objects=[{"key": "t/a", "size": 1, "sha256": SHA, "sources": []}]),
            "at least 1",
        ),
        (manifest_dict(fill_window={"start": "02:00", "end": "02:00"}), "empty"),
        (
            manifest_dict(fill_window={"start": "02:00", "end": "03:00", "timezone": "Mars/Base"}),
            "IANA",
        ),
        (manifest_dict(surprise=True), "Extra inputs"),
    ],
)
def test_bad_manifest_is_rejected_whole(doc: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        Manifest.model_validate(doc)
    assert reason in str(info.value)
