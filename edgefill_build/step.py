"""One step of a build (the agent wheelhouse, the lab's appliance image): its external command
run with every failure (a missing tool, a timeout, a non-zero exit) turned into the caller's
error, naming the step and what to check.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)


def run_step(
    step: str,
    argv: list[str],
    *,
    error: type[Exception],
    timeout_s: float,
    timeout_hint: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = None,
    failure_hint: str = "",
) -> str:
    """Run `argv` and return its stdout; raise `error` saying which step failed and why
    (`failure_hint`, if given, ends the message of a non-zero exit: what to do about it)."""
    logger.info("%s", step)
    try:
        # bandit B603: argv built by the caller, no shell.
        completed = subprocess.run(  # nosec B603
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError as exc:
        raise error(
            f"{step}: {argv[0]} is not installed; run `bash scripts/bootstrap.sh` as root"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise error(f"{step}: gave up after {timeout_s:.0f} s; {timeout_hint}") from exc
    except OSError as exc:  # not executable, a bad working directory, ...
        raise error(f"{step}: {argv[0]} could not run ({exc})") from exc
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip()[-2000:]
        hint = f"\nfix: {failure_hint}" if failure_hint else ""
        raise error(f"{step} failed (exit {completed.returncode}):\n{tail}{hint}")
    return completed.stdout
