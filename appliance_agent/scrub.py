"""`appliance-agent verify`: re-hash every indexed object (rate limited), quarantine bit rot.

A quarantined object leaves the served tree and the index, so the next fill fetches it again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field

from appliance_agent.config import AgentConfig
from appliance_agent.delta import summarize_holdings
from appliance_agent.manifest_cache import ManifestCache
from appliance_agent.rate_limit import RateLimiter
from appliance_agent.status import Activity, AgentStatus, StatusFile, bounded_missing, with_error
from appliance_agent.store import Store
from appliance_agent.store_index import IndexEntry
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


def scrub_store(store: Store, *, rate: int, stop: threading.Event | None = None) -> ScrubReport:
    """Check the least recently verified objects first; quarantine any that no longer match."""
    limiter = RateLimiter(rate)
    report = ScrubReport()
    entries = sorted(store.index.entries().values(), key=lambda entry: entry.verified_at)
    for entry in entries:
        if stop is not None and stop.is_set():
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
            update.update(
                objects_held=holdings.objects_held,
                bytes_held=holdings.bytes_held,
                missing_count=len(holdings.missing_keys),
                missing_keys=bounded_missing(holdings.missing_keys),
            )
        return current.model_copy(update=update)

    status.update(change)


def verify_store(config: AgentConfig) -> ScrubReport:
    """`appliance-agent verify`: scrub under the store lock and record the findings."""
    status = StatusFile(config.state_dir)
    store = Store(config.store_path)
    try:
        with store.exclusive("verify"):
            status.update(lambda s: s.model_copy(update={"activity": Activity.VERIFYING}))
            report = ScrubReport()
            try:
                report = scrub_store(store, rate=config.scrub_rate)
            finally:
                cached = ManifestCache(config.state_dir).load()
                record_scrub(
                    status, report, store=store, manifest=cached.manifest if cached else None
                )
    finally:
        store.close()
    return report
