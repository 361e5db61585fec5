"""`make bench`: run every benchmark (or one), collect results into bench/results/."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pydantic import ValidationError

from bench.result import BenchResult

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def discover() -> dict[str, str]:
    """Benchmark name -> module: every `bench/bench_<name>.py` (name with '-' for '_')."""
    return {
        path.stem.removeprefix("bench_").replace("_", "-"): f"bench.{path.stem}"
        for path in sorted(BENCH_DIR.glob("bench_*.py"))
    }


def run_one(name: str, module: str) -> BenchResult | str:
    """Run one benchmark in its own interpreter; its output streams through, last line parsed."""
    proc = subprocess.run(
        [sys.executable, "-m", module], capture_output=True, text=True, cwd=BENCH_DIR.parent
    )
    sys.stderr.write(proc.stderr)
    sys.stdout.write(proc.stdout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        return f"{name}: exited {proc.returncode} without a result line"
    try:
        return BenchResult.model_validate_json(lines[-1])
    except ValidationError as exc:
        return f"{name}: last line is not a result: {exc.errors()[0]['msg']}"


def markdown_table(results: list[BenchResult]) -> str:
    rows = ["| name | metric | value | unit | baseline | ratio | target | ok |", "|---" * 8 + "|"]
    for r in results:
        rows.append(
            f"| {r.name} | {r.metric} | {r.value:g} | {r.unit} | {r.baseline:g} | {r.ratio:g} "
            f"| {'>=' if r.direction == 'higher' else '<='} {r.target:g} | {'yes' if r.ok else 'NO'} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--only", help="run one benchmark by name")
    args = parser.parse_args(argv)
    available = discover()
    if args.only and args.only not in available:
        print(f"no benchmark named {args.only!r}; available: {', '.join(available) or 'none'}")
        return 2
    chosen = {args.only: available[args.only]} if args.only else available
    results: list[BenchResult] = []
    failures: list[str] = []
    for name, module in chosen.items():
        outcome = run_one(name, module)
        if isinstance(outcome, str):
            failures.append(outcome)
        else:
            results.append(outcome)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "latest.json").write_text(
        json.dumps([r.model_dump() for r in results], indent=2, sort_keys=True) + "\n"
    )
    (RESULTS_DIR / "latest.md").write_text(markdown_table(results))
    print(markdown_table(results), file=sys.stderr)
    for failure in failures:
        print(f"bench error: {failure}", file=sys.stderr)
    if results and len(chosen) == 1:
        # Keep the contract: the last line of `make bench ONLY=x` is x's result.
        print(json.dumps(results[-1].model_dump(), sort_keys=True))
    return 1 if failures or not all(r.ok for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
