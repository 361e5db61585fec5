"""A lab build step turns every way a command can fail into the caller's error, with a hint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lab.build_step import cache_root, run_step


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


def test_the_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("EDGEFILL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "edgefill"
