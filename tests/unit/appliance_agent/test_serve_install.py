"""The installer's failure paths, with an nginx double: refused trees, failed reloads,
interrupts and the debounce. (tests/integration/agent_serve runs the same against real nginx.)

Concurrent installs are played out on one fake clock: an install started from inside another's
debounce sleep (the lock is released while sleeping), or on a thread held in its sleep until
the test lets it go, which stands in for a slow or dead process."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from appliance_agent.serve.errors import (
    ConfigLockBusy,
    NginxConfigInvalid,
    NginxControlError,
    ReloadFailed,
)
from appliance_agent.serve.install import ConfigInstaller, InstallResult, ReloadOutcome
from appliance_agent.serve.lock import DirectoryLock


class FakeNginx:
    """Records calls; `refuse` makes test() fail, `reload_error` makes reload() raise."""

    def __init__(self, *, running: bool = True, clock: Clock | None = None) -> None:
        self.running = running
        self.refuse = False
        self.reload_error: BaseException | None = None
        self.tested: list[Path] = []
        self.reloads = 0
        self.clock = clock
        self.reloaded_at: list[float] = []

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
        if self.clock is not None:
            self.reloaded_at.append(self.clock.now)


class Clock:
    """Fake time; `during_sleep` hooks run (once each, in order) as a sleep begins."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []
        self.during_sleep: list[Callable[[], None]] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.during_sleep:
            self.during_sleep.pop(0)()
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


def _render(marker: str) -> Callable[[Path], None]:
    def render(directory: Path) -> None:
        directory.mkdir()
        (directory / "nginx.conf").write_text(marker)

    return render


def _live(tmp_path: Path) -> str:
    return (tmp_path / "nginx" / "current" / "nginx.conf").read_text()


def test_install_swaps_and_reloads(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    first = installer.install(_render("one"))
    second = installer.install(_render("two"))
    assert _live(tmp_path) == "two"
    assert second.previous == first.release
    assert nginx.reloads == 2
    assert nginx.tested == [first.release / "nginx.conf", second.release / "nginx.conf"]


def test_refused_tree_is_removed_and_current_unchanged(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    installer.install(_render("good"))
    nginx.refuse = True
    with pytest.raises(NginxConfigInvalid):
        installer.install(_render("bad"))
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
    good = installer.install(_render("good"))
    nginx.reload_error = error
    with pytest.raises(raised):
        installer.install(_render("new"))
    assert _live(tmp_path) == "good"
    assert installer.current_release() == good.release
    assert os.listdir(tmp_path / "nginx" / "releases") == [good.release.name]


def test_first_install_that_fails_to_reload_leaves_no_current(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    nginx.reload_error = NginxControlError("boom")
    with pytest.raises(ReloadFailed, match="previous config \\(none\\)"):
        _installer(tmp_path, nginx, clock).install(_render("x"))
    assert not (tmp_path / "nginx" / "current").exists()


def test_nginx_not_running_installs_without_reload(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(running=False), Clock()
    result = _installer(tmp_path, nginx, clock).install(_render("x"))
    assert (result.reloaded, nginx.reloads) == (False, 0)
    assert _live(tmp_path) == "x"


def test_reloads_closer_than_the_interval_wait(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock, interval=5.0)
    installer.install(_render("a"))
    clock.now += 2.0
    installer.install(_render("b"))
    assert clock.slept == [pytest.approx(3.0)]
    clock.now += 10.0
    installer.install(_render("c"))
    assert len(clock.slept) == 1  # long enough ago: no wait


def test_old_releases_are_pruned_but_current_and_previous_kept(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock)
    results = [installer.install(_render(str(n))) for n in range(6)]
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


def _debounced(tmp_path: Path) -> tuple[FakeNginx, Clock, ConfigInstaller, InstallResult]:
    """An installer with a 5 s interval whose first install reloaded 2 s ago."""
    clock = Clock()
    nginx = FakeNginx(clock=clock)
    installer = _installer(tmp_path, nginx, clock, interval=5.0)
    first = installer.install(_render("a"))
    clock.now += 2.0
    return nginx, clock, installer, first


def _recorded(tmp_path: Path) -> dict[str, Any]:
    recorded: dict[str, Any] = json.loads((tmp_path / "nginx" / ".last-reload").read_text())
    return recorded


class HeldInstall:
    """An install on a thread that stops in its debounce sleep until `finish()`."""

    def __init__(self, tmp_path: Path, nginx: FakeNginx, clock: Clock, marker: str) -> None:
        self._sleeping, self._wake = threading.Event(), threading.Event()
        self._outcome: list[InstallResult | BaseException] = []
        self._installer = ConfigInstaller(
            config_root=tmp_path / "nginx",
            nginx=nginx,  # type: ignore[arg-type]
            reload_min_interval_s=5.0,
            sleep=self._sleep,
            wall_clock=lambda: clock.now,
        )
        self._thread = threading.Thread(target=self._run, args=(marker,))
        self._thread.start()
        if not self._sleeping.wait(10):
            raise TimeoutError("the held install never reached its debounce sleep")

    def _sleep(self, seconds: float) -> None:
        self._sleeping.set()
        self._wake.wait(10)

    def _run(self, marker: str) -> None:
        try:
            self._outcome.append(self._installer.install(_render(marker)))
        except BaseException as exc:
            self._outcome.append(exc)

    def finish(self) -> InstallResult | BaseException:
        self._wake.set()
        self._thread.join(10)
        return self._outcome[0]


def test_installs_inside_the_interval_merge_into_one_reload(tmp_path: Path) -> None:
    nginx, clock, installer, first = _debounced(tmp_path)
    later: list[InstallResult] = []
    # "c" is installed while "b" waits: both wait for the same slot, "c" wakes first.
    clock.during_sleep.append(lambda: later.append(installer.install(_render("c"))))
    b = installer.install(_render("b"))
    (c,) = later
    assert nginx.reloads == 2  # "a", then one for "b" and "c" together
    assert _live(tmp_path) == "c"
    assert (c.outcome, c.live) == (ReloadOutcome.RELOADED, c.release)
    assert (b.outcome, b.superseded_by, b.reloaded) == (ReloadOutcome.MERGED, c.release, True)
    assert _recorded(tmp_path) == {"at": nginx.reloaded_at[-1], "release": c.release.name}
    assert nginx.reloaded_at[1] - nginx.reloaded_at[0] >= 5.0
    assert first.release.is_dir()  # still the rollback target until "c" was live; kept by count


def test_superseded_install_that_wakes_first_reloads_the_later_tree_once(tmp_path: Path) -> None:
    # The later install ("c") may be slow or dead: the superseded one ("b") does not count on it.
    nginx, clock, installer, _ = _debounced(tmp_path)
    held: list[HeldInstall] = []
    clock.during_sleep.append(lambda: held.append(HeldInstall(tmp_path, nginx, clock, "c")))
    b = installer.install(_render("b"))
    assert nginx.reloads == 2
    assert _live(tmp_path) == "c"
    assert b.outcome is ReloadOutcome.RELOADED
    assert b.superseded_by is not None and b.superseded_by.name.split("-")[0] == "000003"
    c = held[0].finish()
    assert isinstance(c, InstallResult)
    assert (c.outcome, c.live, nginx.reloads) == (ReloadOutcome.MERGED, b.live, 2)


def test_reload_pending_puts_a_tree_left_by_a_stalled_install_in_service(tmp_path: Path) -> None:
    nginx, clock, installer, first = _debounced(tmp_path)
    held = HeldInstall(tmp_path, nginx, clock, "b")  # swapped in, then stalls before reloading
    assert (_live(tmp_path), nginx.reloads) == ("b", 1)
    pending = installer.reload_pending()
    assert pending is not None
    assert (pending.outcome, nginx.reloads, clock.slept) == (ReloadOutcome.RELOADED, 2, [3.0])
    assert _recorded(tmp_path) == {"at": clock.now, "release": pending.live.name}
    nothing = installer.reload_pending()
    assert nothing is not None and nothing.outcome is ReloadOutcome.MERGED
    b = held.finish()
    assert isinstance(b, InstallResult)
    assert (b.outcome, b.live, nginx.reloads) == (ReloadOutcome.MERGED, pending.live, 2)
    assert first.release.is_dir()


def test_failed_reload_of_a_merged_tree_rolls_back_to_what_nginx_runs(tmp_path: Path) -> None:
    # "b" (superseded, never loaded) must not become current again: nginx still runs "a".
    nginx, clock, installer, first = _debounced(tmp_path)

    def failing_install() -> None:
        nginx.reload_error = NginxControlError("no new workers")
        with pytest.raises(ReloadFailed, match=f"previous config \\({first.release}\\)"):
            installer.install(_render("c"))

    clock.during_sleep.append(failing_install)
    with pytest.raises(ReloadFailed, match="was not loaded"):
        installer.install(_render("b"))
    assert installer.current_release() == first.release
    assert os.listdir(tmp_path / "nginx" / "releases") == [first.release.name]
    assert (nginx.reloads, _recorded(tmp_path)["release"]) == (1, first.release.name)


def test_superseded_install_whose_reload_of_the_later_tree_fails_rolls_back(
    tmp_path: Path,
) -> None:
    nginx, clock, installer, first = _debounced(tmp_path)
    held: list[HeldInstall] = []
    clock.during_sleep.append(lambda: held.append(HeldInstall(tmp_path, nginx, clock, "c")))
    nginx.reload_error = NginxControlError("no new workers")
    with pytest.raises(ReloadFailed, match=r"superseded \S+\) failed, the previous config"):
        installer.install(_render("b"))
    assert installer.current_release() == first.release
    c = held[0].finish()
    assert isinstance(c, ReloadFailed) and "was not loaded" in str(c)
    assert _live(tmp_path) == "a"
    assert os.listdir(tmp_path / "nginx" / "releases") == [first.release.name]
    assert nginx.reloads == 1


def test_nginx_stopped_during_the_wait_installs_without_reload(tmp_path: Path) -> None:
    nginx, clock, installer, _ = _debounced(tmp_path)
    clock.during_sleep.append(lambda: setattr(nginx, "running", False))
    b = installer.install(_render("b"))
    assert (b.outcome, b.reloaded, b.live) == (ReloadOutcome.NOT_RUNNING, False, b.release)
    assert nginx.reloads == 1
    # nginx will start with "b": it is now what a failed reload would roll back to.
    assert _recorded(tmp_path) == {"at": nginx.reloaded_at[0], "release": b.release.name}


def test_interrupt_during_the_wait_rolls_back(tmp_path: Path) -> None:
    nginx, clock, installer, first = _debounced(tmp_path)

    def interrupt() -> None:
        raise KeyboardInterrupt

    clock.during_sleep.append(interrupt)
    with pytest.raises(KeyboardInterrupt):
        installer.install(_render("b"))
    assert installer.current_release() == first.release
    assert os.listdir(tmp_path / "nginx" / "releases") == [first.release.name]
    assert nginx.reloads == 1


@pytest.mark.parametrize(
    ("recorded", "slept"),
    [
        ("999998.000\n", [3.0]),  # the bare float older agents wrote: 2 s ago
        ('{"at": 999998.0, "release": null}\n', [3.0]),
        ("1001000.0\n", [5.0]),  # in the future (clock set back): at most one interval
        ("not a time\n", []),  # unreadable: as if no reload was recorded
    ],
)
def test_recorded_last_reload_is_read(tmp_path: Path, recorded: str, slept: list[float]) -> None:
    nginx, clock = FakeNginx(), Clock()
    (tmp_path / "nginx").mkdir()
    (tmp_path / "nginx" / ".last-reload").write_text(recorded)
    installer = _installer(tmp_path, nginx, clock, interval=5.0)
    result = installer.install(_render("x"))
    assert (clock.slept, nginx.reloads, result.outcome) == (slept, 1, ReloadOutcome.RELOADED)
    assert _recorded(tmp_path) == {"at": clock.now, "release": result.release.name}


def test_releases_from_older_agents_sort_first_and_are_pruned(tmp_path: Path) -> None:
    nginx, clock = FakeNginx(), Clock()
    old = tmp_path / "nginx" / "releases" / "20240101T120000-000001-42"
    old.mkdir(parents=True)
    installer = _installer(tmp_path, nginx, clock)
    results = [installer.install(_render(str(n))) for n in range(3)]
    assert [r.release.name[:6] for r in results] == ["000001", "000002", "000003"]
    assert not old.exists()


def test_reload_pending_after_an_upgrade_records_current_and_does_not_reload(
    tmp_path: Path,
) -> None:
    # An older agent wrote a bare time: which release nginx runs is unknown. Reloading would
    # risk a rollback with nothing to go back to, which would delete the running tree.
    nginx, clock = FakeNginx(), Clock()
    installer = _installer(tmp_path, nginx, clock, interval=5.0)
    first = installer.install(_render("a"))
    (tmp_path / "nginx" / ".last-reload").write_text("999998.000\n")
    nginx.reload_error = NginxControlError("no new workers")
    pending = installer.reload_pending()
    assert pending is not None and pending.outcome is ReloadOutcome.MERGED
    assert (nginx.reloads, _live(tmp_path)) == (1, "a")
    assert _recorded(tmp_path)["release"] == first.release.name
    assert first.release.is_dir()


def test_an_interrupted_install_leaves_the_older_waiter_its_tree(tmp_path: Path) -> None:
    nginx, clock, installer, first = _debounced(tmp_path)
    held = HeldInstall(tmp_path, nginx, clock, "b")  # waits out the debounce on a thread

    def interrupt() -> None:
        raise KeyboardInterrupt

    clock.during_sleep.append(interrupt)
    with pytest.raises(KeyboardInterrupt):
        installer.install(_render("c"))  # swapped in over "b", then interrupted while waiting
    assert _live(tmp_path) == "b"  # back to b's tested tree, not to the live "a"
    clock.now += 10.0
    b = held.finish()
    assert isinstance(b, InstallResult)
    assert (b.outcome, _live(tmp_path), nginx.reloads) == (ReloadOutcome.RELOADED, "b", 2)
    assert _recorded(tmp_path)["release"] == b.release.name != first.release.name
