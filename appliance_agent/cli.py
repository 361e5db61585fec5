"""`appliance-agent`: the command line of the agent (thin: parse, call one function, exit code)."""

from __future__ import annotations

import argparse
import sys

from appliance_agent import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"appliance-agent {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
