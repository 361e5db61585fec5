"""Removing the lab's containers survives podman losing a race with a stopping container."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lab import appliances
from lab.errors import LabError


class FakePodman:
    """Containers that `rm` removes, except for the first `failures` calls, which fail."""

    def __init__(self, names: list[str], failures: int) -> None:
        self.names = list(names)
        self.failures = failures
        self.rm_calls: list[list[str]] = []

    def __call__(self, args: Sequence[str], *, timeout: float = 120, check: bool = True) -> str:
        if args[0] == "ps":
            return "\n".join(self.names)
        if args[:2] == ["rm", "-f"]:
            targets = [a for a in args[2:] if a not in ("-t", "2")]
            self.rm_calls.append(targets)
            if self.failures > 0:
                self.failures -= 1
                self.names = self.names[1:]  # one of them stopped and went meanwhile
                raise LabError("podman rm -f -t failed: container state improper: stopped")
            self.names = [n for n in self.names if n not in targets]
        return ""


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lab.appliances.time.sleep", lambda _s: None)


def test_a_lost_race_is_retried_with_what_remains(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePodman(["lab-a", "lab-b", "lab-c"], failures=1)
    monkeypatch.setattr(appliances, "podman", fake)
    assert appliances.remove_all() == ["lab-a", "lab-b", "lab-c"]
    assert fake.rm_calls == [["lab-a", "lab-b", "lab-c"], ["lab-b", "lab-c"]]
    assert fake.names == []


def test_a_removal_that_keeps_failing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePodman(["lab-a", "lab-b", "lab-c", "lab-d"], failures=appliances.REMOVE_ATTEMPTS)
    monkeypatch.setattr(appliances, "podman", fake)
    with pytest.raises(LabError, match="state improper"):
        appliances.remove_all()
    assert len(fake.rm_calls) == appliances.REMOVE_ATTEMPTS


def test_nothing_to_remove_runs_no_rm(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakePodman([], failures=0)
    monkeypatch.setattr(appliances, "podman", fake)
    assert appliances.remove_all() == []
    assert fake.rm_calls == []
