"""Content units of keys and what an appliance verifiably holds (edgefill_contracts.holdings)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from edgefill_contracts import content_unit, unit_of_key
from edgefill_contracts.errors import ContractError
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.holdings import held_units, manifest_units
from edgefill_contracts.manifest import Manifest


def test_units_of_keys() -> None:
    assert (
        unit_of_key("title-1/720p/seg_00001.ts")
        == content_unit("title-1", "720p")
        == "title-1/720p"
    )
    with pytest.raises(ValueError, match="<title>/<rendition>/<file>"):
        unit_of_key("title-1/index.m3u8")
    with pytest.raises(ContractError):
        unit_of_key("../etc/passwd")


def _manifest() -> Manifest:
    objects = [
        {
            "key": f"t{i}/720p/seg.ts",
            "size": 1,
            "sha256": hashlib.sha256(b"x").hexdigest(),
            "sources": ["https://o/x"],
        }
        for i in range(3)
    ]
    return Manifest.model_validate(
        {
            "appliance_id": "a",
            "version": "m1",
            "generated_at": datetime(2026, 1, 1, tzinfo=UTC),
            "fill_window": FillWindow(),
            "byte_budget": 10,
            "objects": objects,
        }
    )


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        (HeldDigest(manifest_version="m1"), {"t0/720p", "t1/720p", "t2/720p"}),
        (
            HeldDigest(manifest_version="m1", missing_keys=["t1/720p/seg.ts"]),
            {"t0/720p", "t2/720p"},
        ),
        (
            HeldDigest(manifest_version="m1", missing_keys=["junk"]),
            {"t0/720p", "t1/720p", "t2/720p"},
        ),
        (HeldDigest(manifest_version="m1", missing_truncated=True), set()),
    ],
    ids=["all", "one-missing", "unparseable-missing-key", "truncated"],
)
def test_held_units(held: HeldDigest, expected: set[str]) -> None:
    assert held_units(listed=manifest_units(_manifest()), held=held) == expected
