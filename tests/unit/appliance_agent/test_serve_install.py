"""The installer's failure paths, with an nginx double: refused trees, failed reloads,
interrupts and the debounce. (tests/integration/agent_serve runs the same against real nginx.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance_agent.serve.errors import (
    ConfigLockBusy,
    NginxConfigInvalid,
    NginxControlError,
    ReloadFailed,
)
from appliance_agent.serve.install import ConfigInstaller
from appliance_agent.serve.lock import DirectoryLock


class FakeNginx:
    """Records calls; `refuse` makes test() fail, `reload_error` makes reload() raise."""

    def __init__(self, *, running: bool = True) -> None:
        self.running = running
        self.refuse = False
        self.reload_error: BaseException | None = None
        self.tested: list[Path] = []
        self.reloads = 0

    def test(self, config: Path) -> None:
        self.tested.append(config)
        if self.refuse:
            raise NginxConfigInvalid("refused", output="unknown directive")

    def master_pid(self) -> int | None:
        return 4242 if self.running else None

    def reload(self) -> None:
        if self.reload_error is not None:
            raise self.reload_error
        self.reloads += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _installer(
    tmp_path: Path, nginx: FakeNginx, clock: Clock, interval: float = 0.0
) -> ConfigInstaller:
    return ConfigInstaller(
        config_root=tmp_path / "nginx",
        nginx=nginx,  # type: ignore[arg-type]
        reload_min_interval_s=interval,
        keep_releases=3,
        sleep=clock.sleep,
        wall_clock=lambda: clock.now,
    )


def _render(marker: str) -> object:
    def render(directory: Path) -> None:
        directory.mkdir()
        (directory / "nginx.conf").write_text(marker)

    return render


def _live(tmp_path: Path) -> str:
    return (tmp_path / "nginx" / "current" / "nginx.conf").read_text()


def test_install_swaps_and_reloads(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    first = installer.install(_render("one"))  # type: ignore[arg-type]
    second = installer.install(_render("two"))  # type: ignore[arg-type]
    assert _live(tmp_path) == "two"
    assert second.previous == first.release
    assert nginx.reloads == 2
    assert nginx.tested == [first.release / "nginx.conf", second.release / "nginx.conf"]


def test_refused_tree_is_removed_and_current_unchanged(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    installer.install(_render("good"))  # type: ignore[arg-type]
    nginx.refuse = True
    with pytest.raises(NginxConfigInvalid):
        installer.install(_render("bad"))  # type: ignore[arg-type]
    assert _live(tmp_path) == "good"
    assert len(os.listdir(tmp_path / "nginx" / "releases")) == 1
    assert nginx.reloads == 1


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (NginxControlError("no new workers"), ReloadFailed),
        (KeyboardInterrupt(), KeyboardInterrupt),  # a signal mid-change still rolls back
    ],
)
def test_failed_or_interrupted_reload_rolls_back(
    tmp_path: Path, error: BaseException, raised: type[BaseException]
) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    good = installer.install(_render("good"))  # type: ignore[arg-type]
    nginx.reload_error = error
    with pytest.raises(raised):
        installer.install(_render("new"))  # type: ignore[arg-type]
    assert _live(tmp_path) == "good"
    assert installer.current_release() == good.release
    assert os.listdir(tmp_path / "nginx" / "releases") == [good.release.name]


def test_first_install_that_fails_to_reload_leaves_no_current(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    nginx.reload_error = NginxControlError("boom")
    with pytest.raises(ReloadFailed, match="previous config \\(none\\)"):
        _installer(tmp_path, nginx, clock).install(_render("x"))  # type: ignore[arg-type]
    assert not (tmp_path / "nginx" / "current").exists()


def test_nginx_not_running_installs_without_reload(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(running=False), Clock()
    result = _installer(tmp_path, nginx, clock).install(_render("x"))  # type: ignore[arg-type]
    assert (result.reloaded, nginx.reloads) == (False, 0)
    assert _live(tmp_path) == "x"


def test_reloads_closer_than_the_interval_wait(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock, interval=5.0)
    installer.install(_render("a"))  # type: ignore[arg-type]
    clock.now += 2.0
    installer.install(_render("b"))  # type: ignore[arg-type]
    assert clock.slept == [pytest.approx(3.0)]
    clock.now += 10.0
    installer.install(_render("c"))  # type: ignore[arg-type]
    assert len(clock.slept) == 1  # long enough ago: no wait


def test_old_releases_are_pruned_but_current_and_previous_kept(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    results = [installer.install(_render(str(n))) for n in range(6)]  # type: ignore[arg-type]
    kept = sorted(os.listdir(tmp_path / "nginx" / "releases"))
    assert kept == sorted(r.release.name for r in results[-3:])


def test_the_lock_is_exclusive(tmp_path: Path) -> None:
    with (
        DirectoryLock(tmp_path),
        pytest.raises(ConfigLockBusy, match="another render"),
        DirectoryLock(tmp_path, timeout_s=0.1),
    ):
        pass
    with DirectoryLock(tmp_path, timeout_s=0.1):  # released on exit
        pass
