"""One fill: fetch what the manifest lists and the store lacks, then evict what it dropped.

Downloads run on `concurrency` threads under one global rate limit. Before each download the
fill makes room: it evicts objects the manifest no longer lists when the byte budget or the
free-space floor demands it, and never anything the manifest still lists; when no room can be
made it stops with a disk-full error. Otherwise stale objects are evicted only once every
missing object is in. A deadline (the window's end) stops new downloads; downloads in
flight may run `window_park_grace_s` longer and are then parked, their partial bytes kept for
resume. A fill of a manifest already wholly held, with the store unchanged since, does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

import httpx

from appliance_agent.clock import Clock, utc_now
from appliance_agent.config import AgentConfig, PeerPolicy
from appliance_agent.delta import compute_delta
from appliance_agent.download import FetchResult, ObjectDownloader, SourceUrl
from appliance_agent.errors import AllSourcesFailed, DiskFull, DownloadParked
from appliance_agent.origin_urls import OriginUnavailable, OriginUrlResolver
from appliance_agent.rate_limit import RateLimiter
from appliance_agent.store import Store
from appliance_agent.store_index import IndexEntry
from edgefill_contracts import Manifest, ManifestEntry

logger = logging.getLogger(__name__)

STATUS_WRITE_INTERVAL_S = 1.0
HOLDINGS_WRITE_INTERVAL_S = 30.0
COMPLETE_META = "complete_manifest"
FillResult = Literal["ok", "partial", "failed"]


class FillObserver(Protocol):
    """Receives progress; called from download threads, so implementations must be thread-safe.

    `report` is the fill's live report (read it, never change it). The status file is written
    by one such observer (appliance_agent.fill_status), the progress display by another.
    """

    def started(self, *, objects: int, total_bytes: int, report: FillReport) -> None: ...
    def advanced(self, nbytes: int) -> None: ...
    def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None: ...
    def finished(self, report: FillReport) -> None: ...


class SilentObserver:
    """An observer that ignores everything (the daemon's default; tests subclass it)."""

    def started(self, *, objects: int, total_bytes: int, report: FillReport) -> None:
        return None

    def advanced(self, nbytes: int) -> None:
        return None

    def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None:
        return None

    def finished(self, report: FillReport) -> None:
        return None


class ObserverGroup:
    """Several observers as one: each event goes to every member, in order."""

    def __init__(self, members: Iterable[FillObserver]) -> None:
        self._members = tuple(members)

    def started(self, *, objects: int, total_bytes: int, report: FillReport) -> None:
        for member in self._members:
            member.started(objects=objects, total_bytes=total_bytes, report=report)

    def advanced(self, nbytes: int) -> None:
        for member in self._members:
            member.advanced(nbytes)

    def object_finished(self, key: str, *, ok: bool, report: FillReport) -> None:
        for member in self._members:
            member.object_finished(key, ok=ok, report=report)

    def finished(self, report: FillReport) -> None:
        for member in self._members:
            member.finished(report)


@dataclass
class FillReport:
    """What one fill did; the CLI prints it and the status file keeps its gist. `skipped`: the
    store already held the manifest whole and unchanged, so nothing at all was done."""

    manifest_version: str
    result: FillResult = "ok"
    skipped: bool = False
    objects_missing_at_start: int = 0
    objects_fetched: int = 0
    objects_failed: int = 0
    objects_parked: int = 0
    objects_evicted: int = 0
    bytes_transferred: int = 0
    bytes_from_peers: int = 0
    bytes_from_origin: int = 0
    missing_after: int = 0
    stop_reason: str | None = None
    errors: list[str] = field(default_factory=list)
    duration_s: float = 0.0


@dataclass
class _Room:
    """Byte accounting for room decisions, guarded by the fill's lock."""

    budget: int
    floor: int
    held: int
    in_flight: int = 0


class Fill:
    """Runs one fill of `manifest` into `store`; create one per fill."""

    def __init__(
        self,
        *,
        config: AgentConfig,
        store: Store,
        client: httpx.Client,
        observer: FillObserver | None = None,
        stop: threading.Event | None = None,
        deadline: datetime | None = None,
        clock: Clock = utc_now,
        origin_urls: OriginUrlResolver | None = None,
    ) -> None:
        self._config = config
        self._origin_urls = origin_urls
        self._store = store
        self._observer = observer or SilentObserver()
        self._stop = stop or threading.Event()
        self._deadline = deadline
        self._clock = clock
        self._park = threading.Event()
        self._lock = threading.Lock()
        self._downloader = ObjectDownloader(
            client=client,
            store=store,
            limiter=RateLimiter(config.max_fill_rate),
            attempts_per_source=config.attempts_per_source,
            retry_backoff_s=config.retry_backoff_s,
            park=self._park,
            on_bytes=self._on_bytes,
        )

    def run(self, manifest: Manifest) -> FillReport:
        started = time.monotonic()
        report = FillReport(manifest_version=manifest.version)
        if is_complete(self._store, manifest.version):
            # Wholly held, and nothing in the store changed since: no per-object work at all.
            report.duration_s = time.monotonic() - started
            report.skipped = True
            logger.info("fill of manifest %s: nothing to do", manifest.version)
            self._observer.started(objects=0, total_bytes=0, report=report)
            self._observer.finished(report)
            return report
        held = self._store.index.entries()
        delta = compute_delta(manifest, held)
        report.objects_missing_at_start = len(delta.missing)
        room = _Room(
            budget=min(self._config.byte_budget, manifest.byte_budget),
            floor=self._config.free_space_floor,
            held=sum(entry.size for entry in held.values()),
        )
        stale = list(delta.stale)
        if self._origin_urls is not None:
            self._origin_urls.plan([obj.key for obj in delta.missing])
        keep = {self._store.partial_path(key=o.key, sha256=o.sha256) for o in delta.missing}
        self._store.remove_partials_except(keep)
        self._observer.started(
            objects=len(delta.missing), total_bytes=delta.missing_bytes, report=report
        )
        logger.info(
            "fill of manifest %s: %d objects (%d bytes) to fetch, %d stale",
            manifest.version,
            len(delta.missing),
            delta.missing_bytes,
            len(stale),
        )

        pending = iter(delta.missing)
        watcher_done = threading.Event()
        watcher = threading.Thread(target=self._watch_for_park, args=(watcher_done,), daemon=True)
        watcher.start()
        workers = [
            threading.Thread(
                target=self._work,
                args=(pending, held, room, stale, report, manifest),
                name=f"fill-{n}",
            )
            for n in range(min(self._config.concurrency, max(1, len(delta.missing))))
        ]
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        finally:
            watcher_done.set()
            watcher.join()
        entries = self._store.index.entries()
        after = compute_delta(manifest, entries)
        if not after.missing:
            # Every new object is in: only now may what left the manifest go.
            for entry in after.stale:
                self._store.evict(entry.key)
                entries.pop(entry.key)
                report.objects_evicted += 1
        report.duration_s = time.monotonic() - started
        report.missing_after = len(after.missing)
        report.result = _result_of(report)
        if not after.missing:
            self._store.index.set_meta(
                COMPLETE_META, _completion_mark(manifest.version, self._store.index.generation())
            )
        logger.info(
            "fill of manifest %s %s: fetched %d, failed %d, parked %d, evicted %d, %d bytes in "
            "%.1f s%s",
            manifest.version,
            report.result,
            report.objects_fetched,
            report.objects_failed,
            report.objects_parked,
            report.objects_evicted,
            report.bytes_transferred,
            report.duration_s,
            f" (stopped: {report.stop_reason})" if report.stop_reason else "",
        )
        self._observer.finished(report)
        return report

    def _work(
        self,
        pending: Iterator[ManifestEntry],
        held: dict[str, IndexEntry],
        room: _Room,
        stale: list[IndexEntry],
        report: FillReport,
        manifest: Manifest,
    ) -> None:
        while True:
            with self._lock:
                obj = self._next_object(pending, room, stale, report)
                if obj is None:
                    return
                room.in_flight += obj.size
            outcome: FetchResult | None = None
            try:
                sources, failures = self._sources(manifest, obj)
                outcome = self._downloader.fetch(obj, sources, failures=failures)
            except AllSourcesFailed as exc:
                with self._lock:
                    report.objects_failed += 1
                    report.errors.append(str(exc))
            except DownloadParked:
                with self._lock:
                    report.objects_parked += 1
            except DiskFull as exc:
                logger.error("fill stopped: %s", exc)
                self._park.set()
                with self._lock:
                    report.stop_reason = report.stop_reason or "disk full"
                    report.errors.append(str(exc))
            except Exception as exc:
                # A bug or an unforeseen store failure: stop the fill, keep what is verified.
                logger.exception("fill stopped by an unexpected error on %s", obj.key)
                self._park.set()
                with self._lock:
                    report.stop_reason = report.stop_reason or "internal error"
                    report.errors.append(f"{obj.key}: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    room.in_flight -= obj.size
                    if outcome is not None:
                        previous = self._store_size_before(held, obj.key)
                        room.held += obj.size - previous
                        report.objects_fetched += 1
                        report.bytes_transferred += outcome.bytes_transferred
                        if outcome.from_origin:
                            report.bytes_from_origin += outcome.bytes_transferred
                        else:
                            report.bytes_from_peers += outcome.bytes_transferred
            self._observer.object_finished(obj.key, ok=outcome is not None, report=report)

    @staticmethod
    def _store_size_before(held: dict[str, IndexEntry], key: str) -> int:
        entry = held.pop(key, None)
        return entry.size if entry is not None else 0

    def _next_object(
        self,
        pending: Iterator[ManifestEntry],
        room: _Room,
        stale: list[IndexEntry],
        report: FillReport,
    ) -> ManifestEntry | None:
        """The next object to download, or None when the fill must not start another."""
        if report.stop_reason is not None:
            return None
        if self._stop.is_set():
            report.stop_reason = "agent stopping"
            return None
        if self._deadline is not None and self._clock() >= self._deadline:
            report.stop_reason = "fill window closed"
            return None
        obj = next(pending, None)
        if obj is None:
            return None
        if not self._make_room(obj, room, stale, report):
            report.stop_reason = "disk full"
            return None
        return obj

    def _make_room(
        self, obj: ManifestEntry, room: _Room, stale: list[IndexEntry], report: FillReport
    ) -> bool:
        """Evict stale objects (largest first) until `obj` fits the budget and the floor."""
        while True:
            over_budget = room.held + room.in_flight + obj.size - room.budget
            free = self._store.disk_usage().free_bytes
            under_floor = room.floor + room.in_flight + obj.size - free
            if over_budget <= 0 and under_floor <= 0:
                return True
            if not stale:
                message = (
                    f"no room for {obj.key} ({obj.size} bytes): "
                    + (
                        f"{over_budget} bytes over the byte budget of {room.budget}"
                        if over_budget > 0
                        else f"only {free} bytes free with a floor of {room.floor}"
                    )
                    + "; nothing left to evict that the manifest does not list. Free disk "
                    "space or lower the budget in the manifest."
                )
                logger.error("fill stopped: %s", message)
                report.errors.append(message)
                return False
            stale.sort(key=lambda entry: entry.size)
            victim = stale.pop()
            self._store.evict(victim.key)
            room.held -= victim.size
            report.objects_evicted += 1
            logger.info("evicted %s early to make room", victim.key)

    def _sources(self, manifest: Manifest, obj: ManifestEntry) -> tuple[list[SourceUrl], list[str]]:
        """The object's ranked source URLs, and why any source has none (an origin URL the
        fleet API could not give now: the object fails from that source, the fill goes on)."""
        indices = obj.sources
        if self._config.peer_policy is PeerPolicy.ORIGIN_ONLY:
            kinds = manifest.header.sources
            indices = tuple(i for i in indices if kinds[i].kind == "origin") or indices[-1:]
        urls: list[SourceUrl] = []
        failures: list[str] = []
        for index in indices:
            is_origin = manifest.header.sources[index].kind == "origin"
            url = manifest.source_url(obj, index)
            if url is None:
                if self._origin_urls is None:
                    failures.append("origin: no fleet API to ask for origin URLs in this fill")
                    continue
                try:
                    url = self._origin_urls.url_for(obj.key)
                except OriginUnavailable as exc:
                    failures.append(f"origin: {exc}")
                    continue
            urls.append(SourceUrl(url=url, is_origin=is_origin))
        return urls, failures

    def _watch_for_park(self, done: threading.Event) -> None:
        """Park downloads in flight on shutdown, or `park_grace_s` after the deadline."""
        park_at = (
            self._deadline + timedelta(seconds=self._config.window_park_grace_s)
            if self._deadline is not None
            else None
        )
        while not done.wait(0.1):
            if self._stop.is_set() or (park_at is not None and self._clock() >= park_at):
                self._park.set()
                return

    def _on_bytes(self, nbytes: int) -> None:
        self._observer.advanced(nbytes)


def _completion_mark(version: str, generation: int) -> str:
    """What the index records after a complete fill: this version, held at this generation."""
    return f"{generation}:{version}"


def is_complete(store: Store, version: str) -> bool:
    """True when the last complete fill was of `version` and the store has not changed since."""
    mark = store.index.get_meta(COMPLETE_META)
    return mark == _completion_mark(version, store.index.generation())


def _result_of(report: FillReport) -> FillResult:
    if report.missing_after == 0:
        return "ok"
    if report.stop_reason == "disk full" or report.objects_fetched == 0:
        return "failed"
    return "partial"
