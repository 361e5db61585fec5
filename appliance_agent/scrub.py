"""`appliance-agent verify` and the daemon's scrub: re-hash every indexed object (rate limited),
quarantine bit rot.

A quarantined object leaves the served tree and the index, so the next fill fetches it again.
The daemon scrubs every `scrub_interval_s` (a day by default), never in the fill window (it
stops between objects when the window opens), least recently verified objects first, so a scrub
cut short resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance_agent.clock import Clock, utc_now
from appliance_agent.config import AgentConfig
from appliance_agent.delta import summarize_holdings
from appliance_agent.errors import StoreBusy
from appliance_agent.manifest_cache import ManifestCache
from appliance_agent.rate_limit import RateLimiter
from appliance_agent.status import Activity, AgentStatus, StatusFile, holdings_update, with_error
from appliance_agent.store import Store
from appliance_agent.store_index import IndexEntry
from appliance_agent.window import current_interval
from edgefill_contracts import Manifest

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


@dataclass
class ScrubReport:
    checked: int = 0
    bytes_checked: int = 0
    quarantined: list[str] = field(default_factory=list)
    vanished: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def clean(self) -> bool:
        return not self.quarantined and not self.vanished


def scrub_store(
    store: Store,
    *,
    rate: int,
    stop: threading.Event | None = None,
    give_way: Callable[[], bool] | None = None,
) -> ScrubReport:
    """Check the least recently verified objects first; quarantine any that no longer match.
    Stops between objects when `stop` is set or `give_way()` is true (the fill window opened)."""
    limiter = RateLimiter(rate)
    report = ScrubReport()
    entries = sorted(store.index.entries().values(), key=lambda entry: entry.verified_at)
    for entry in entries:
        if (stop is not None and stop.is_set()) or (give_way is not None and give_way()):
            report.stopped = True
            break
        ok = _matches(store, entry, limiter, report)
        report.checked += 1
        if ok is None:
            store.index.remove(entry.key)
            report.vanished.append(entry.key)
            logger.error(
                "object %s is indexed but its file is gone; it will be fetched again", entry.key
            )
        elif ok:
            store.index.mark_verified(entry.key, time.time())
        else:
            where = store.quarantine(entry.key)
            report.quarantined.append(entry.key)
            logger.error(
                "object %s no longer matches its sha256 (bit rot?); quarantined to %s, the next "
                "fill fetches it again",
                entry.key,
                where,
            )
    return report


def _matches(
    store: Store, entry: IndexEntry, limiter: RateLimiter, report: ScrubReport
) -> bool | None:
    """True if the file's size and sha256 match, False if not, None if the file is missing."""
    hasher = hashlib.sha256()
    size = 0
    try:
        with open(store.object_path(entry.key), "rb") as data:
            while block := data.read(READ_CHUNK):
                limiter.acquire(len(block))
                hasher.update(block)
                size += len(block)
    except FileNotFoundError:
        return None
    report.bytes_checked += size
    return size == entry.size and hasher.hexdigest() == entry.sha256


def record_scrub(
    status: StatusFile, report: ScrubReport, *, store: Store, manifest: Manifest | None
) -> None:
    """Put the scrub's findings into the agent's status (held counts shrink by what was lost)."""

    def change(current: AgentStatus) -> AgentStatus:
        errors = current.errors
        for key in report.quarantined:
            errors = with_error(errors, f"verify quarantined {key}: sha256 mismatch")
        for key in report.vanished:
            errors = with_error(errors, f"verify found {key} missing from disk")
        update: dict[str, object] = {"activity": Activity.IDLE, "errors": errors}
        if manifest is not None:
            holdings = summarize_holdings(manifest, store.index.entries())
            update.update(holdings_update(holdings))
        return current.model_copy(update=update)

    status.update(change)


def verify_store(
    config: AgentConfig,
    *,
    stop: threading.Event | None = None,
    give_way: Callable[[], bool] | None = None,
) -> ScrubReport:
    """`appliance-agent verify`: scrub under the store lock and record the findings."""
    status = StatusFile(config.state_dir)
    store = Store(config.store_path)
    try:
        with store.exclusive("verify"):
            status.update(lambda s: s.model_copy(update={"activity": Activity.VERIFYING}))
            report = ScrubReport()
            try:
                report = scrub_store(store, rate=config.scrub_rate, stop=stop, give_way=give_way)
            finally:
                cached = ManifestCache(config.state_dir).load()
                record_scrub(
                    status, report, store=store, manifest=cached.manifest if cached else None
                )
    finally:
        store.close()
    return report


class ScrubScheduler:
    """The daemon's scrub: one `verify_store` every `scrub_interval_s`, counted from when the
    store was last scrubbed through (its least recently verified object), so restarts neither
    re-read the disk nor put the scrub off for ever. It never starts in the fill window and
    stops between objects when the window opens; while a fill or `verify` holds the store, or
    after an unexpected error, it tries again in `retry_s`. The fill always comes first."""

    name = "scrub"

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock = utc_now,
        retry_s: float = 3600.0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._retry_s = min(retry_s, config.scrub_interval_s)
        self.last_report: ScrubReport | None = None

    def run(self, stop: threading.Event) -> None:
        delay = self.first_delay()
        while not stop.wait(delay):
            try:
                done = self.scrub_once(stop)
            except Exception:
                logger.exception("scrub failed; trying again in %.0f s", self._retry_s)
                done = False
            delay = self._config.scrub_interval_s if done else self._retry_s

    def first_delay(self) -> float:
        """Seconds until the object verified longest ago is `scrub_interval_s` old."""
        interval = self._config.scrub_interval_s
        try:
            store = Store(self._config.store_path)
            try:
                oldest = min((e.verified_at for e in store.index.entries().values()), default=None)
            finally:
                store.close()
        except Exception:
            logger.exception("cannot read the store index; first scrub in %.0f s", interval)
            return interval
        if oldest is None:
            return interval
        return max(0.0, oldest + interval - self._clock().timestamp())

    def scrub_once(self, stop: threading.Event) -> bool:
        """One scrub if the time is right; False if it must be tried again soon."""
        if self._window_open():
            logger.info("scrub put off: the fill window is open")
            return False
        try:
            report = verify_store(self._config, stop=stop, give_way=self._window_open)
        except StoreBusy as exc:
            logger.info("scrub put off: %s", exc)
            return False
        self.last_report = report
        logger.info(
            "scrub checked %d objects (%d bytes): %d quarantined, %d missing%s",
            report.checked,
            report.bytes_checked,
            len(report.quarantined),
            len(report.vanished),
            " (stopped early)" if report.stopped else "",
        )
        return not report.stopped

    def _window_open(self) -> bool:
        return current_interval(self._config.fill_window, self._clock()) is not None
