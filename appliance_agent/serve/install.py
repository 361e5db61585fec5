"""Install a rendered nginx tree: check it whole, swap it in atomically, reload (debounced),
roll back on failure.

Layout under `config_root` (certbot's nginx plugin does the same steps, with its reverter):

    .lock                 flock, held while `current`, releases/ or .last-reload change (lock.py)
    .last-reload          {"at": <wall-clock time of the last reload>, "release": "<id>"}: the
                          release nginx runs (or, when it is stopped, will start with); a bare
                          float, as older agents wrote it, is read as a time with no release
    releases/<seq>-<ts>/  one rendered tree per install, nginx.conf at its top; <seq> grows with
                          every install, so releases order by it (older names count as seq 0)
    current -> releases/<id>    the symlink nginx is started with

A tree that fails `nginx -t` never becomes `current`. Reloads are debounced: installs closer
together than `reload_min_interval_s` merge into one reload, and no two reloads are closer.

1. Under the lock: render, `nginx -t`, swap `current`. If the interval since the last reload
   has passed, reload now (confirmed: new workers appear) and record it. nginx not running:
   record `current` as the release it will start with, and return NOT_RUNNING.
2. Otherwise release the lock, sleep out the interval, take the lock again and settle:
   - `.last-reload` names our release or a later one: a reload by another install already
     put our change in service (each render reads the whole state from disk, so a later tree
     includes ours): return MERGED without a second reload;
   - `current` is ours or a later release, not yet loaded: reload it now. Whoever wakes first
     reloads, a superseded install too: the install that superseded ours may have died while
     it waited, so we do not count on its reload; the later install then finds it MERGED;
   - `current` is older than ours: a reload of a tree that included ours failed, or its
     install was interrupted, and `current` went back: raise ReloadFailed.
   If `.last-reload` moved on meanwhile (a reload by hand through `reload_pending()`), the
   wait starts again from it. A time in the future (wall clock set back) counts from now.
3. If a reload fails, `current` goes back to the release nginx last loaded (`.last-reload`),
   not to the symlink's previous target, which may be a superseded tree nginx never ran; to
   the previous target only when no release is recorded (older agents). The failed tree and,
   if the reload was on its behalf, the superseded caller's tree are deleted. A signal during
   the wait rolls back too, if `current` is still ours and was not loaded.

If an install dies while it waits (SIGKILL, power loss), its tree stays `current`, tested but
not loaded. Another waiting install reloads it when it wakes; if none waits, the next install
supersedes it with a later tree and reloads that, `reload_pending()` reloads it on request,
and a start or restart of nginx uses it. Prune keeps `current` (so the tree waiting for a
reload), the live release (the rollback target) and the newest `keep_releases`; a superseded
tree is not needed, its waiter only compares seqs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from appliance_agent.clock import utc_now
from appliance_agent.serve.errors import NginxControlError, ReloadFailed
from appliance_agent.serve.lock import DirectoryLock
from appliance_agent.serve.nginx import Nginx

logger = logging.getLogger(__name__)


class ReloadOutcome(StrEnum):
    """How an install's tree reached nginx."""

    RELOADED = "reloaded"  # this call reloaded nginx into `live`
    MERGED = "merged"  # another call's reload had already put `live` in service
    NOT_RUNNING = "not-running"  # nginx is not running: it will start with `live`


@dataclass(frozen=True)
class InstallResult:
    release: Path  # the tree this call rendered
    previous: Path | None  # what `current` pointed at before this call's swap
    outcome: ReloadOutcome
    live: Path  # what nginx runs now: `release`, or a later tree that superseded (includes) it

    @property
    def reloaded(self) -> bool:
        """True if nginx now runs this tree or a later one; False if nginx is not running."""
        return self.outcome is not ReloadOutcome.NOT_RUNNING

    @property
    def superseded_by(self) -> Path | None:
        """The later release that went live in place of this one, if any."""
        return None if self.live == self.release else self.live


@dataclass(frozen=True)
class _LastReload:
    at: float  # wall-clock time of the last reload; 0 if none is recorded
    release: str | None  # the release nginx runs (or will start with); None if unknown


class ConfigInstaller:
    """Render → `nginx -t` → swap `current` → debounced reload; see the module docstring."""

    def __init__(
        self,
        *,
        config_root: Path,
        nginx: Nginx,
        reload_min_interval_s: float,
        keep_releases: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config_root = config_root
        self.nginx = nginx
        self.reload_min_interval_s = reload_min_interval_s
        self.keep_releases = keep_releases
        self._sleep = sleep
        self._wall_clock = wall_clock

    @property
    def current_link(self) -> Path:
        return self.config_root / "current"

    @property
    def releases_dir(self) -> Path:
        return self.config_root / "releases"

    @property
    def last_reload_file(self) -> Path:
        return self.config_root / ".last-reload"

    def current_release(self) -> Path | None:
        if not self.current_link.is_symlink():
            return None
        return (self.config_root / os.readlink(self.current_link)).resolve()

    def install(self, render: Callable[[Path], None]) -> InstallResult:
        """`render(directory)` writes a fresh tree; it goes live only if nginx accepts it."""
        with DirectoryLock(self.config_root):
            self.releases_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            release = self.releases_dir / _release_id(self._next_seq())
            try:
                render(release)
                self.nginx.test(release / "nginx.conf")
            except BaseException:
                shutil.rmtree(release, ignore_errors=True)
                raise
            previous = self.current_release()
            self._point_current_at(release)
            settled = self._settle(release, previous)
        result = self._wait_and_settle(settled, release, previous, owned=True)
        logger.info(
            "installed nginx config %s (%s, live: %s)",
            release.name,
            result.outcome.value,
            result.live.name,
        )
        return result

    def reload_pending(self) -> InstallResult | None:
        """Reload `current` if nginx has not loaded it yet (its installer died while waiting).

        Debounced like an install; None when there is no `current` at all. When no release is
        recorded (an older agent wrote `.last-reload`, or none did), nginx was last started or
        reloaded with `current` as far as anyone can tell: it is recorded as live, not reloaded,
        since a failed reload would have no known release to roll back to.
        """
        with DirectoryLock(self.config_root):
            current = self.current_release()
            if current is None:
                return None
            last = self._read_last_reload()
            if last.release is None:
                self._write_last_reload(_LastReload(at=last.at, release=current.name))
                return InstallResult(current, None, ReloadOutcome.MERGED, current)
            settled = self._settle(current, None)
        return self._wait_and_settle(settled, current, None, owned=False)

    def _wait_and_settle(
        self,
        settled: InstallResult | float,
        release: Path,
        previous: Path | None,
        *,
        owned: bool,
    ) -> InstallResult:
        """Sleep without the lock until `_settle` has a result (`owned`: this call made it)."""
        while not isinstance(settled, InstallResult):
            logger.info("reload of %s debounced: waiting %.1f s", release.name, settled)
            try:
                self._sleep(settled)
            except BaseException:
                if owned:
                    self._abandon(release, previous)
                raise
            with DirectoryLock(self.config_root):
                settled = self._settle(release, previous)
        return settled

    def _settle(self, release: Path, previous: Path | None) -> InstallResult | float:
        """Under the lock: the result for `release`, or how long to wait before asking again."""
        last = self._read_last_reload()
        current = self.current_release()
        if current is None or _order(current.name) < _order(release.name):
            shutil.rmtree(release, ignore_errors=True)  # neither current nor live: garbage
            raise ReloadFailed(
                f"nginx config {release.name} was not loaded: the reload of a config that "
                f"included it failed or was interrupted, and {current or 'no release'} is "
                "current again; see the error above or the nginx error log, then render again"
            )
        if self.nginx.master_pid() is None:
            logger.info("nginx is not running; it will start with %s", current)
            self._write_last_reload(_LastReload(at=last.at, release=current.name))
            self._prune(keep={current})
            return InstallResult(release, previous, ReloadOutcome.NOT_RUNNING, current)
        if last.release is not None and _order(last.release) >= _order(release.name):
            live = self.releases_dir / last.release
            self._prune(keep={live, current})
            return InstallResult(release, previous, ReloadOutcome.MERGED, live)
        now = self._wall_clock()
        if last.at > now:
            logger.warning(
                "%s is %.1f s in the future (wall clock set back?); counting the interval from now",
                self.last_reload_file,
                last.at - now,
            )
            last = _LastReload(at=now, release=last.release)
            self._write_last_reload(last)
        wait = self.reload_min_interval_s - (now - last.at)
        if wait > 0:
            return wait
        self._reload(current, last=last, fallback=previous, owner=release)
        self._prune(keep={current})
        return InstallResult(release, previous, ReloadOutcome.RELOADED, current)

    def _reload(
        self, target: Path, *, last: _LastReload, fallback: Path | None, owner: Path
    ) -> None:
        """Reload nginx into `target` (which is `current`); on failure roll back and raise."""
        try:
            self.nginx.reload()
        except BaseException as exc:
            back_to = self._rollback_target(last, fallback, failed=target)
            self._roll_back(back_to, target)
            if owner != target:  # superseded, never loaded: not needed any more
                shutil.rmtree(owner, ignore_errors=True)
            if isinstance(exc, NginxControlError):
                merged = "" if target == owner else f" (it superseded {owner.name})"
                raise ReloadFailed(
                    f"{exc}; reloading {target.name}{merged} failed, the previous config "
                    f"({back_to or 'none'}) is current again"
                ) from exc
            raise
        self._write_last_reload(_LastReload(at=self._wall_clock(), release=target.name))

    def _rollback_target(
        self, last: _LastReload, fallback: Path | None, *, failed: Path
    ) -> Path | None:
        if last.release is not None and (self.releases_dir / last.release).is_dir():
            return self.releases_dir / last.release
        return fallback if fallback != failed else None

    def _abandon(self, release: Path, previous: Path | None) -> None:
        """Interrupted while waiting: if our tree is still current and not loaded, `current`
        goes back to what it was before our swap (another waiting install's tested tree, whose
        waiter then reloads it), or to the live release when that tree is gone."""
        try:
            with DirectoryLock(self.config_root):
                last = self._read_last_reload()
                if self.current_release() == release and last.release != release.name:
                    back_to = (
                        previous
                        if previous is not None and previous.is_dir()
                        else self._rollback_target(last, previous, failed=release)
                    )
                    self._roll_back(back_to, release)
        except Exception:
            logger.exception(
                "could not roll back %s after an interrupt; it stays current and the next "
                "install or reload puts it in service",
                release.name,
            )

    def _point_current_at(self, release: Path) -> None:
        staging = self.config_root / ".current.tmp"
        staging.unlink(missing_ok=True)
        os.symlink(release.relative_to(self.config_root), staging)
        os.replace(staging, self.current_link)

    def _roll_back(self, previous: Path | None, failed: Path) -> None:
        if previous is None:
            self.current_link.unlink(missing_ok=True)
        else:
            self._point_current_at(previous)
        shutil.rmtree(failed, ignore_errors=True)
        logger.warning("rolled nginx config back to %s", previous or "nothing")

    def _read_last_reload(self) -> _LastReload:
        try:
            text = self.last_reload_file.read_text()
        except FileNotFoundError:
            return _LastReload(at=0.0, release=None)
        try:
            data = json.loads(text)
            if isinstance(data, int | float):  # older agents wrote the bare time
                return _LastReload(at=float(data), release=None)
            release = data.get("release")
            return _LastReload(
                at=float(data["at"]), release=release if isinstance(release, str) else None
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            logger.warning(
                "%s is unreadable (%r); treating it as no reload recorded",
                self.last_reload_file,
                text[:80],
            )
            return _LastReload(at=0.0, release=None)

    def _write_last_reload(self, last: _LastReload) -> None:
        staging = self.last_reload_file.with_name(".last-reload.tmp")
        staging.write_text(json.dumps({"at": round(last.at, 3), "release": last.release}) + "\n")
        os.replace(staging, self.last_reload_file)

    def _next_seq(self) -> int:
        names = [p.name for p in self.releases_dir.iterdir()]
        last = self._read_last_reload().release
        current = self.current_release()
        names += [n for n in (last, current.name if current else None) if n is not None]
        return 1 + max((_seq(n) for n in names), default=0)

    def _prune(self, *, keep: set[Path]) -> None:
        """Delete all but the newest `keep_releases`, never `keep` (current, live)."""
        releases = sorted(
            (p for p in self.releases_dir.iterdir() if p.is_dir()), key=lambda p: _order(p.name)
        )
        for old in releases[: -self.keep_releases]:
            if old not in keep:
                shutil.rmtree(old, ignore_errors=True)


def _seq(name: str) -> int:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0  # "20240101T120000-..." from older agents: 0


def _order(name: str) -> tuple[int, str]:
    return (_seq(name), name)


def _release_id(seq: int) -> str:
    now = utc_now()
    return f"{seq:06d}-{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{os.getpid()}"
