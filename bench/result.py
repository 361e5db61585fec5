"""The one result line every benchmark prints last: a ratio against a baseline of the same run."""

from __future__ import annotations

import json
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BenchResult(BaseModel):
    """`ratio` is value/baseline; `ok` says whether `ratio` meets `target` in `direction`."""

    model_config = ConfigDict(extra="allow")

    name: str
    metric: str
    value: float
    unit: str
    baseline: float
    ratio: float
    target: float
    direction: Literal["higher", "lower"] = "higher"
    ok: bool
    details: dict[str, object] = Field(default_factory=dict)


def make_result(
    *,
    name: str,
    metric: str,
    value: float,
    unit: str,
    baseline: float,
    target: float,
    direction: Literal["higher", "lower"] = "higher",
    **details: object,
) -> BenchResult:
    """Compute the ratio and verdict; a zero baseline gives ratio 0 and ok False, never a crash."""
    ratio = value / baseline if baseline else 0.0
    ok = bool(baseline) and (ratio >= target if direction == "higher" else ratio <= target)
    return BenchResult(
        name=name,
        metric=metric,
        value=round(value, 6),
        unit=unit,
        baseline=round(baseline, 6),
        ratio=round(ratio, 4),
        target=target,
        direction=direction,
        ok=ok,
        details=details,
    )


def emit(result: BenchResult) -> None:
    """Print the result as the last line of the benchmark's output (the runner reads it)."""
    sys.stdout.write(json.dumps(result.model_dump(), sort_keys=True) + "\n")
    sys.stdout.flush()
