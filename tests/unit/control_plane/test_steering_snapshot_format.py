"""The steering snapshot's sections: round trips, bit order, and hostile bytes refused."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from datetime import UTC, datetime

import pytest

from control_plane.steering.snapshot_cache import BitmapHoldings
from control_plane.steering.snapshot_format import (
    FleetSection,
    HoldingsSection,
    SnapshotAppliance,
    SnapshotFormatError,
    SnapshotPointer,
    SnapshotSite,
    decode_fleet,
    decode_holdings,
    decode_prefixes,
    encode_fleet,
    encode_holdings,
    encode_prefixes,
)
from tests.unit.control_plane.test_steering_holdings_rows import section_of

HELD = {
    "a1": frozenset({"t1/720p", "t2/720p", "t3/1080p"}),
    "a2": frozenset({"t1/720p"}),
    "a3": frozenset(),
}


def test_holdings_round_trip_and_every_bit_answers_for_its_unit() -> None:
    written = section_of(HELD)
    section = decode_holdings(encode_holdings(written))
    assert section == written, "units, rows and each row's source survive"
    assert set(section.units) == {"t1/720p", "t2/720p", "t3/1080p"}
    assert section.appliance_ids == ("a1", "a2"), "an appliance holding nothing has no row"
    index = {unit: n for n, unit in enumerate(section.units)}
    rows = section.rows_by_appliance()
    for appliance_id, held in HELD.items():
        if appliance_id not in rows:
            continue
        holdings = BitmapHoldings(index, rows[appliance_id])
        for unit in section.units:
            assert (unit in holdings) == (unit in held), (appliance_id, unit)
        assert "t9/720p" not in holdings and 7 not in holdings


def test_bit_i_is_byte_i_over_8_least_significant_first() -> None:
    held = {"a": frozenset(f"t{n:02d}/x" for n in range(10)), "b": frozenset({"t09/x"})}
    section = section_of(held)
    index = {unit: n for n, unit in enumerate(section.units)}
    assert index["t09/x"] == 9, "numbered as first seen: a's sorted units, then b's"
    assert bytes(section.rows_by_appliance()["b"]) == b"\x00\x02"
    assert bytes(section.rows_by_appliance()["a"]) == b"\xff\x03"


def test_a_large_holdings_section_compresses_its_runs() -> None:
    units = [f"title-{n:05d}/{r}" for n in range(5000) for r in ("360p", "720p")]
    held = {f"a{n:03d}": frozenset(units[: 2000 + n * 10]) for n in range(200)}
    data = encode_holdings(section_of(held))
    assert len(data) < 200 * len(units) // 8 // 10, "runs of held units compress tenfold"


def _holdings_with(header: dict[str, object], units: bytes, rows: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return b"EFSH1\n" + struct.pack(">I", len(raw)) + raw + units + rows


GOOD_UNITS = zlib.compress(b"t1/x\nt2/x")
GOOD_ROWS = zlib.compress(b"\x03")
GOOD_HEADER = {
    "format": 1,
    "units": 2,
    "appliances": ["a1"],
    "units_bytes": len(GOOD_UNITS),
    "rows_bytes": len(GOOD_ROWS),
}


def test_a_hand_made_section_in_the_documented_layout_decodes() -> None:
    section = decode_holdings(_holdings_with(GOOD_HEADER, GOOD_UNITS, GOOD_ROWS))
    assert section == HoldingsSection(units=("t1/x", "t2/x"), appliance_ids=("a1",), rows=b"\x03")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "bad magic"),
        (b"EFSH2\n\x00\x00\x00\x02{}", "bad magic"),
        (b"EFSH1\n\x00\x00\x00\x05{nope", "header is unreadable"),
        (_holdings_with({**GOOD_HEADER, "format": 9}, GOOD_UNITS, GOOD_ROWS), "format 9"),
        (_holdings_with({**GOOD_HEADER, "units": 10**9}, GOOD_UNITS, GOOD_ROWS), "at most"),
        (_holdings_with(GOOD_HEADER, GOOD_UNITS, GOOD_ROWS[:-2]), "cut short"),
        (_holdings_with(GOOD_HEADER, GOOD_UNITS, GOOD_ROWS + b"x"), "cut short"),
        (_holdings_with({**GOOD_HEADER, "units": 3}, GOOD_UNITS, GOOD_ROWS), "lists 2 units"),
        (
            # A zlib bomb: rows that inflate far past what 1 appliance x 2 units need.
            _holdings_with(
                {**GOOD_HEADER, "rows_bytes": len(bomb := zlib.compress(bytes(10**7)))},
                GOOD_UNITS,
                bomb,
            ),
            "past its bound",
        ),
        (
            _holdings_with(
                {**GOOD_HEADER, "rows_bytes": len(b"not zlib")}, GOOD_UNITS, b"not zlib"
            ),
            "bad zlib",
        ),
    ],
    ids=[
        "empty",
        "other-magic",
        "bad-header",
        "unknown-format",
        "absurd-count",
        "truncated",
        "trailing",
        "count-mismatch",
        "zlib-bomb",
        "not-zlib",
    ],
)
def test_hostile_holdings_are_refused_with_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(SnapshotFormatError, match=message):
        decode_holdings(data)


def test_fleet_section_round_trip_and_refusals() -> None:
    section = FleetSection(
        sites=[SnapshotSite(site_id="ams-1", isp="isp-a", key_id="s1")],
        appliances=[
            SnapshotAppliance(
                appliance_id="a1",
                site_id="ams-1",
                cluster_id="c1",
                base_url="https://10.0.0.1:8443",
                weight=0.5,
            )
        ],
    )
    data = encode_fleet(section)
    assert data == encode_fleet(section), "deterministic: equal content, equal sha256"
    assert decode_fleet(data) == section
    for bad in (b"", b"junk", data[:-4], gzip.compress(b'{"sites": 3}', mtime=0)):
        with pytest.raises(SnapshotFormatError, match="fleet section is unreadable"):
            decode_fleet(bad)
    bomb = gzip.compress(b" " * (65 << 20), mtime=0)
    with pytest.raises(SnapshotFormatError, match="inflates past"):
        decode_fleet(bomb)


def test_prefix_section_refuses_what_is_not_gzip() -> None:
    assert decode_prefixes(encode_prefixes(b"table")) == b"table"
    with pytest.raises(SnapshotFormatError, match="prefixes section is unreadable"):
        decode_prefixes(b"table")


def test_the_pointer_names_only_steering_sections() -> None:
    ref = {"key": "steering/fleet/" + "0" * 64 + ".json.gz", "sha256": "0" * 64, "size": 1}
    pointer = SnapshotPointer.model_validate(
        {
            "checked_at": datetime(2026, 1, 1, tzinfo=UTC),
            "fleet": ref,
            "holdings": ref,
            "prefixes": ref,
            "prefix_count": 0,
        }
    )
    assert pointer.fleet.key.startswith("steering/fleet/")
    with pytest.raises(ValueError, match="key"):
        SnapshotPointer.model_validate(
            {**pointer.model_dump(), "fleet": {**ref, "key": "manifests/a1/latest.json"}}
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"EFSH1\n\x00\x00\x00\x09[1, 2, 3]", "holdings section header is unreadable: not a JSON"),
        (b"EFSH1\n\x00\x00\x10\x00{}", "holdings section header is unreadable: cut short"),
    ],
    ids=["header-not-an-object", "header-longer-than-data"],
)
def test_a_frame_header_that_is_not_one_is_named_once(data: bytes, message: str) -> None:
    with pytest.raises(SnapshotFormatError) as refused:
        decode_holdings(data)
    assert str(refused.value).startswith(message)
    assert str(refused.value).count("holdings section") == 1
