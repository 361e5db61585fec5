"""The served-report contract: unit ids, counts and sizes it accepts and refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from edgefill_contracts import MAX_UNITS_PER_REPORT, ServedReport, unit_of_key

SEALED = datetime(2026, 3, 1, tzinfo=UTC)


def make(**fields: Any) -> ServedReport:
    return ServedReport.model_validate(
        {"report_id": "0" * 32, "sealed_at": SEALED, "by_unit": {"t1/720p": 1}, **fields}
    )


def test_a_report_sums_its_units() -> None:
    report = make(by_unit={"t1/720p": 10, "t1/1080p": 5})
    assert report.bytes_served == 15


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"by_unit": {}}, "at least 1"),
        ({"by_unit": {"t1/720p": 0}}, "greater than or equal to 1"),
        ({"by_unit": {"t1/720p": 1 << 51}}, "less than or equal to"),
        ({"by_unit": {"t1": 1}}, "no title directory"),
        ({"by_unit": {"t1/720p/seg.ts": 1}}, "not <title_id>/<rendition>"),
        ({"by_unit": {"t1/../x": 1}}, "'.' or '..'"),
        ({"report_id": "A" * 32}, "pattern"),
        ({"by_unit": {f"t{i}/720p": 1 for i in range(MAX_UNITS_PER_REPORT + 1)}}, "at most"),
        ({"extra": 1}, "Extra inputs"),
        ({"by_unit": {f"{'t' * 250}{i:04d}/{'r' * 250}": 1 for i in range(600)}}, "at most 300000"),
    ],
)
def test_a_bad_report_is_refused_with_the_reason(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make(**fields)


def test_unit_of_key_is_the_title_and_rendition() -> None:
    assert unit_of_key("t1/720p/seg_00001.ts") == "t1/720p"
    with pytest.raises(ValueError, match="not <title>/<rendition>/<file>"):
        unit_of_key("t1/master.m3u8")
