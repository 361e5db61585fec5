"""The chaos report: per fault what must happen and what did, on the terminal and as
`lab-report/chaos.json` and `lab-report/chaos.html`."""

from __future__ import annotations

import html
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rich.console import Console

from lab.report import write_files


class FaultResult(BaseModel):
    """One fault: what was done, what must happen, what did happen, and whether it held."""

    model_config = ConfigDict(extra="forbid")

    fault: str
    expected: str
    observed: list[str]
    ok: bool


def print_fault(result: FaultResult, console: Console) -> None:
    verdict = "[green]held[/green]" if result.ok else "[red]FAILED[/red]"
    console.print(f"[bold]{result.fault}[/bold]: {verdict}")
    console.print(f"   must: {result.expected}")
    for line in result.observed:
        console.print(f"   saw:  {line}")


def render_faults_html(results: list[FaultResult]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.fault)}</td>"
        f"<td style='color:{'green' if r.ok else 'red'}'>{'held' if r.ok else 'FAILED'}</td>"
        f"<td>{html.escape(r.expected)}</td>"
        f"<td><ul>{''.join(f'<li>{html.escape(line)}</li>' for line in r.observed)}</ul></td></tr>"
        for r in results
    )
    held = sum(r.ok for r in results)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>edgefill lab: faults</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left;"
        "vertical-align:top}</style></head><body>"
        f"<h1>edgefill lab: faults</h1><p>{held} of {len(results)} faults held. "
        "The lab report is <a href='index.html'>index.html</a>.</p>"
        "<table><tr><th>fault</th><th>verdict</th><th>must happen</th><th>what happened</th></tr>"
        f"{rows}</table></body></html>"
    )


def write_faults(results: list[FaultResult], directory: Path) -> tuple[Path, Path]:
    """Write chaos.json and chaos.html atomically into `directory`; return both paths."""
    document = {"ok": all(r.ok for r in results), "faults": [r.model_dump() for r in results]}
    json_path, html_path = write_files(
        directory,
        {"chaos.json": json.dumps(document, indent=2), "chaos.html": render_faults_html(results)},
    )
    return json_path, html_path
