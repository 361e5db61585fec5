"""Install a rendered nginx tree: check it whole, swap it in atomically, reload, roll back on failure.

Layout under `config_root` (certbot's nginx plugin does the same steps, with its reverter):

    .lock                 flock held for the whole change (lock.py)
    .last-reload          wall-clock time of the last reload, for the debounce
    releases/<id>/        one rendered tree per install, nginx.conf at its top
    current -> releases/<id>    the symlink nginx is started with

A tree that fails `nginx -t` never becomes `current`. After the swap, the reload must be
confirmed (new workers appear); if it fails, or the process is interrupted, `current` points
back at the previous release before the error propagates.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from appliance_agent.serve.errors import NginxControlError, ReloadFailed
from appliance_agent.serve.lock import DirectoryLock
from appliance_agent.serve.nginx import Nginx

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstallResult:
    release: Path
    previous: Path | None
    reloaded: bool  # False when nginx was not running: it will start with `release`


class ConfigInstaller:
    """Render → `nginx -t` → swap `current` → debounced reload, all under the directory lock."""

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

    def current_release(self) -> Path | None:
        if not self.current_link.is_symlink():
            return None
        return (self.config_root / os.readlink(self.current_link)).resolve()

    def install(self, render: Callable[[Path], None]) -> InstallResult:
        """`render(directory)` writes a fresh tree; it goes live only if nginx accepts it."""
        with DirectoryLock(self.config_root):
            self.releases_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            release = self.releases_dir / _release_id()
            try:
                render(release)
                self.nginx.test(release / "nginx.conf")
            except BaseException:
                shutil.rmtree(release, ignore_errors=True)
                raise
            previous = self.current_release()
            self._point_current_at(release)
            try:
                reloaded = self._debounced_reload()
            except BaseException as exc:
                self._roll_back(previous, release)
                if isinstance(exc, NginxControlError):
                    raise ReloadFailed(
                        f"{exc}; the previous config ({previous or 'none'}) is current again"
                    ) from exc
                raise
            self._prune(keep={release, *([previous] if previous else [])})
        logger.info("installed nginx config %s (reloaded: %s)", release.name, reloaded)
        return InstallResult(release=release, previous=previous, reloaded=reloaded)

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

    def _debounced_reload(self) -> bool:
        if self.nginx.master_pid() is None:
            logger.info("nginx is not running; it will start with the new config")
            return False
        marker = self.config_root / ".last-reload"
        try:
            last = float(marker.read_text())
        except (FileNotFoundError, ValueError):
            last = 0.0
        elapsed = self._wall_clock() - last
        wait = self.reload_min_interval_s - elapsed
        if wait > 0:
            logger.info("last reload was %.1f s ago; waiting %.1f s to reload", elapsed, wait)
            self._sleep(wait)
        self.nginx.reload()
        marker.write_text(f"{self._wall_clock():.3f}\n")
        return True

    def _prune(self, *, keep: set[Path]) -> None:
        releases = sorted(p for p in self.releases_dir.iterdir() if p.is_dir())
        for old in releases[: -self.keep_releases]:
            if old not in keep:
                shutil.rmtree(old, ignore_errors=True)


def _release_id() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{now.microsecond:06d}-{os.getpid()}"
