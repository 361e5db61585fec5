"""The lab report renders to JSON and HTML with escaped labels and a computed hit ratio."""

from __future__ import annotations

import json
from pathlib import Path

from lab.report import ApplianceReport, LabReport, PlayReport, SiteReport, write_report


def sample() -> LabReport:
    return LabReport(
        generated_at="2026-11-25T10:00:00Z",
        control_plane_url="http://10.88.0.1:8000",
        appliances=[
            ApplianceReport(
                appliance_id="ams-<1>",
                site_id="ams",
                state="Serving",
                manifest_version="v1",
                objects_held=3,
                bytes_held=3 << 20,
                fill_bytes_from_peers=1 << 20,
                fill_bytes_from_origin=2 << 20,
                requests_served=9,
                bytes_served=5 << 20,
            )
        ],
        plays=[
            PlayReport(
                client="c1",
                client_ip="198.51.100.7",
                title_id="title-1",
                rendition="360p",
                steered_to=["ams-<1>"],
                segments=4,
                bytes_by_source={"ams-<1>": 3 << 20, "origin": 1 << 20},
                ok=True,
            )
        ],
        sites=[SiteReport(site_id="ams", plays=1, bytes_from_site=3, bytes_total=4)],
    )


def test_report_files(tmp_path: Path) -> None:
    json_path, html_path = write_report(sample(), tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert data["sites"][0]["hit_ratio"] == 0.75
    page = html_path.read_text()
    assert "ams-&lt;1&gt;" in page and "ams-<1>" not in page
    assert page.count("<svg") == 4
    assert LabReport.model_validate_json(json_path.read_text()).all_plays_ok
