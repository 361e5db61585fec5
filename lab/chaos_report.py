"""The chaos report: per fault what must happen and what did, on the terminal and as
`lab-report/chaos.json`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rich.console import Console


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


def write_faults(results: list[FaultResult], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "chaos.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"ok": all(r.ok for r in results), "faults": [r.model_dump() for r in results]},
            indent=2,
        )
    )
    os.replace(tmp, path)
    return path
