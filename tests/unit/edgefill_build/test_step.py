"""A build step turns every way a command can fail into the caller's error, with a hint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgefill_build.step import run_step


class StepFailed(Exception):
    pass


def _run(argv: list[str], timeout_s: float = 30) -> str:
    return run_step(
        "make a thing",
        argv,
        error=StepFailed,
        timeout_s=timeout_s,
        timeout_hint="check the mirror",
    )


def test_the_output_of_a_good_step_is_returned() -> None:
    assert _run([sys.executable, "-c", "print('built')"]) == "built\n"


@pytest.mark.parametrize(
    ("argv", "timeout_s", "message"),
    [
        (["/nonexistent/tool"], 30, "make a thing: /nonexistent/tool is not installed; run `bash"),
        ([sys.executable, "-c", "import time; time.sleep(10)"], 0.3, "gave up after 0 s; check"),
        (
            [sys.executable, "-c", "import sys; sys.exit('the mirror said 404')"],
            30,
            "make a thing failed (exit 1):\nthe mirror said 404",
        ),
    ],
)
def test_a_failing_step_raises_the_callers_error(
    argv: list[str], timeout_s: float, message: str
) -> None:
    with pytest.raises(StepFailed) as caught:
        _run(argv, timeout_s=timeout_s)
    assert message in str(caught.value)


def test_a_failure_hint_ends_the_message_of_a_failed_step() -> None:
    with pytest.raises(StepFailed) as caught:
        run_step(
            "make a thing",
            [sys.executable, "-c", "import sys; sys.exit('no wheel for aarch64')"],
            error=StepFailed,
            timeout_s=30,
            timeout_hint="check the mirror",
            failure_hint="pin a newer version",
        )
    assert (
        str(caught.value)
        == "make a thing failed (exit 1):\nno wheel for aarch64\nfix: pin a newer version"
    )


def test_a_tool_that_cannot_be_run_is_the_callers_error(tmp_path: Path) -> None:
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\n")  # not executable
    with pytest.raises(StepFailed, match=r"make a thing: .*tool could not run \(\[Errno 13\]"):
        _run([str(script)])
