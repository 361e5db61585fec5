"""Child process of test_documented_commands: a CLI's `--help`, then its argv parsed only."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import runpy
import sys
from typing import Any, NoReturn

# Usage: python tests/unit/_cli_probe.py TARGET [ARG ...]
#   TARGET is a module (`lab.demo`, what `python -m` runs) or an entry point
#   (`appliance_agent.cli:main`, what a console script runs). Prints one JSON object:
#   {"help": [exit code, stdout, stderr], "parse": [exit code or null, stdout, stderr]}.
# "parse" runs the CLI with the documented arguments, but argparse stops it with exit 0 right
# after they parse, so nothing the command does happens. Exit code null: the CLI returned
# without ever calling parse_args (then it did run: a CLI the docs name must use argparse).


def _invoke(target: str, args: list[str], *, stop_after_parse: bool) -> list[Any]:
    out, err = io.StringIO(), io.StringIO()
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, *a: Any, **kw: Any) -> NoReturn:
        original(self, *a, **kw)
        raise SystemExit(0)

    code: int | str | None = None
    sys.argv = [target, *args]
    if stop_after_parse:
        argparse.ArgumentParser.parse_args = parse_then_stop  # type: ignore[method-assign]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if ":" in target:
                module, function = target.split(":", 1)
                getattr(importlib.import_module(module), function)()
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if exc.code is not None else 0
    except Exception as exc:  # the module is missing or fails on import: report, not crash
        code, err = 1, io.StringIO(f"{type(exc).__name__}: {exc}")
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    if code is None and not stop_after_parse:
        code = 0
    return [code, out.getvalue(), err.getvalue()]


def leading_positionals(args: list[str]) -> list[str]:
    """The subcommand path of `args` (`up` of `up --titles 3`), where `--help` goes after."""
    prefix: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            break
        prefix.append(arg)
    return prefix


def main() -> int:
    target, *args = sys.argv[1:]
    sys.path[0] = os.getcwd()  # as `python -m` has it: the current directory first
    result = {
        "help": _invoke(target, [*leading_positionals(args), "--help"], stop_after_parse=False),
        "parse": _invoke(target, args, stop_after_parse=True),
    }
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
