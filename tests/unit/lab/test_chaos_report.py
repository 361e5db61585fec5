"""The chaos report: one verdict per fault, JSON that says whether all held, escaped HTML."""

from __future__ import annotations

import json
from pathlib import Path

from lab.chaos_report import FaultResult, write_faults


def test_one_failed_fault_makes_the_report_not_ok_and_html_is_escaped(tmp_path: Path) -> None:
    results = [
        FaultResult(
            fault="drain <ams1-b>",
            expected="new sessions go elsewhere",
            observed=["steered to ['ams1-a']"],
            ok=True,
        ),
        FaultResult(
            fault="kill the control plane",
            expected="appliances keep serving",
            observed=["error: timed out"],
            ok=False,
        ),
    ]
    json_path, html_path = write_faults(results, tmp_path / "lab-report")
    document = json.loads(json_path.read_text())
    assert document["ok"] is False
    assert [f["ok"] for f in document["faults"]] == [True, False]
    page = html_path.read_text()
    assert "drain &lt;ams1-b&gt;" in page and "<ams1-b>" not in page
    assert "1 of 2 faults held" in page and "FAILED" in page
    assert not list((tmp_path / "lab-report").glob("*.tmp"))
