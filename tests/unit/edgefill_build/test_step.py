"""A build step turns every way a command can fail into the caller's error, with a hint."""

from __future__ import annotations

import sys

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
