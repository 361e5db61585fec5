"""Content units of keys and what an appliance verifiably holds (edgefill_contracts.holdings)."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest

from edgefill_contracts import content_unit, unit_of_key
from edgefill_contracts.errors import ContractError
from edgefill_contracts.heartbeat import HeldDigest
from edgefill_contracts.holdings import (
    decode_held_units,
    encode_held_units,
    held_units,
    unit_order,
)
from edgefill_contracts.manifest import Manifest
from tests.support.manifests import File, manifest_of


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
    files = [
        File(key=f"t{i}/720p/seg.ts", size=1, sha256=hashlib.sha256(b"x").hexdigest())
        for i in range(3)
    ]
    return manifest_of(files, version="m1", byte_budget=10).manifest


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
    assert held_units(order=unit_order(_manifest()), held=held) == expected


ORDER = tuple(f"title-{n:05d}/{r}" for n in range(2_000) for r in ("480p", "1080p", "2160p"))


def _encoded_bitmap(raw: bytes) -> str:
    return base64.b64encode(zlib.compress(raw)).decode()


@pytest.mark.parametrize("held_every", [1, 2, 7, 1_000, 10**9])
def test_held_units_round_trip_exactly(held_every: int) -> None:
    held = frozenset(ORDER[::held_every])
    assert decode_held_units(ORDER, encode_held_units(ORDER, held)) == held


def test_the_bitmap_is_lsb_first_over_the_sorted_order() -> None:
    order = ("a/1", "b/1", "c/1", "d/1", "e/1", "f/1", "g/1", "h/1", "i/1")
    encoded = encode_held_units(order, {"a/1", "d/1", "i/1"})
    assert zlib.decompress(base64.b64decode(encoded)) == bytes([0b0000_1001, 0b0000_0001])


def test_a_digest_with_a_bitmap_is_exact_whatever_the_missing_keys_say() -> None:
    order = unit_order(_manifest())
    digest = HeldDigest(
        manifest_version="m1",
        held_units=encode_held_units(order, {"t2/720p"}),
        missing_truncated=True,  # what an old rule would have read as "holds nothing"
    )
    assert held_units(order=order, held=digest) == {"t2/720p"}


def test_a_production_size_bitmap_fits_the_heartbeat() -> None:
    # 20,000 titles x 6 renditions, every second unit held: the worst case for compression.
    order = tuple(f"title-{n:05d}/{r}" for n in range(20_000) for r in range(6))
    encoded = encode_held_units(order, order[::2])
    digest = HeldDigest(manifest_version="m1", held_units=encoded)
    assert digest.held_units is not None and len(encoded) < 25_000
    assert len(held_units(order=order, held=digest)) == 60_000


@pytest.mark.parametrize(
    ("encoded", "says"),
    [
        ("not base64!", "not base64"),
        (base64.b64encode(b"not zlib").decode(), "not base64 of zlib"),
        (_encoded_bitmap(bytes(749)), "need exactly 750"),
        (_encoded_bitmap(bytes(751)), "inflates past 750"),
        (_encoded_bitmap(bytes(10_000_000)), "inflates past 750"),  # a zlib bomb is never inflated
        (base64.b64encode(zlib.compress(bytes(750))[:-6]).decode(), "cut-short"),
    ],
    ids=["not-base64", "not-zlib", "short", "long", "bomb", "truncated-stream"],
)
def test_a_bitmap_that_does_not_fit_the_manifest_is_refused(encoded: str, says: str) -> None:
    with pytest.raises(ContractError, match=says):
        decode_held_units(ORDER, encoded)


def test_bits_past_the_last_unit_are_refused() -> None:
    order = ORDER[:5]  # one byte, three unused bits
    with pytest.raises(ContractError, match="past the end"):
        decode_held_units(order, _encoded_bitmap(bytes([0b1000_0000])))


def test_a_bitmap_over_the_heartbeat_limit_or_not_base64_is_a_validation_error() -> None:
    with pytest.raises(ValueError, match="held_units"):
        HeldDigest(held_units="A" * 90_000)
    with pytest.raises(ValueError, match="held_units"):
        HeldDigest(held_units="%%%")
