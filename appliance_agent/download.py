"""Download one object: ranked sources, retries, Range resume, streaming verification.

For each source in order: try up to `attempts` times (backoff between tries) while the failure
is transient; a 404, a wrong size or a wrong sha256 moves on to the next source at once. Bytes
go to the object's partial file in the store's `.partial/` directory; a retry or a later run
resumes it with `Range: bytes=<have>-` after re-hashing what is already on disk. A server that
answers a range with 200 restarts the file; a 206 whose Content-Range does not start where we
asked is refused. Resumes use no If-Range validator: the partial file is named after the
object's sha256 and every byte is checked against it before publishing, which is stronger than
any source's ETag (and peers and the origin have different ETags for the same bytes).

Peer and origin URLs authenticate themselves (presigned S3 URLs; signed `/f/...` fill paths that a
peer's nginx checks with secure_link), so no credential is sent to a source.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from appliance_agent.errors import (
    AllSourcesFailed,
    ChecksumMismatch,
    DiskFull,
    DownloadParked,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from appliance_agent.rate_limit import RateLimiter
from appliance_agent.redact import redact_url
from appliance_agent.store import Store

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_NOT_THERE = {401, 403, 404, 410}


class ObjectToFetch(Protocol):
    """What a download needs of a manifest entry (edgefill_contracts.manifest.ManifestEntry)."""

    @property
    def key(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SourceUrl:
    """One ranked source of one object: its URL, and whether it is the origin (not a peer)."""

    url: str
    is_origin: bool = False


@dataclass(frozen=True)
class FetchResult:
    """Where an object came from and how many bytes crossed the network for it."""

    key: str
    source_rank: int
    source_count: int
    bytes_transferred: int
    from_origin: bool


class ObjectDownloader:
    """Fetches objects into a Store; safe to share between threads."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        store: Store,
        limiter: RateLimiter,
        attempts_per_source: int,
        retry_backoff_s: float,
        park: threading.Event,
        on_bytes: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self._client = client
        self._store = store
        self._limiter = limiter
        self._attempts = attempts_per_source
        self._backoff = retry_backoff_s
        self._park = park
        self._on_bytes = on_bytes

    def fetch(
        self, obj: ObjectToFetch, sources: Sequence[SourceUrl], *, failures: Sequence[str] = ()
    ) -> FetchResult:
        """Fetch `obj` from the first source that delivers it verified, and publish it.
        `failures`: sources already known to have failed (named in AllSourcesFailed)."""
        failed = list(failures)
        for rank, source in enumerate(sources):
            url = source.url
            try:
                transferred = self._fetch_with_retries(obj, url)
            except SourceError as exc:
                if isinstance(exc, ChecksumMismatch):
                    # Nothing this source wrote can be trusted as a prefix for the next one.
                    self._store.partial_path(key=obj.key, sha256=obj.sha256).unlink(missing_ok=True)
                logger.warning(
                    "object %s: source %d/%d failed, moving on: %s",
                    obj.key,
                    rank + 1,
                    len(sources),
                    exc,
                )
                failed.append(f"{redact_url(url)}: {exc}")
                continue
            return FetchResult(
                key=obj.key,
                source_rank=rank,
                source_count=len(sources),
                bytes_transferred=transferred,
                from_origin=source.is_origin,
            )
        raise AllSourcesFailed(obj.key, failed)

    def _fetch_with_retries(self, obj: ObjectToFetch, url: str) -> int:
        transferred = 0
        retrying = Retrying(
            retry=retry_if_exception_type(SourceUnavailable),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=max(self._backoff, 30.0)),
            sleep=self._interruptible_sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                counter = _Counter()
                try:
                    self._fetch_once(obj, url, counter)
                finally:
                    transferred += counter.value
        return transferred

    def _interruptible_sleep(self, seconds: float) -> None:
        if self._park.wait(seconds):
            raise DownloadParked("download parked while waiting to retry")

    def _fetch_once(self, obj: ObjectToFetch, url: str, counter: _Counter) -> None:
        partial = self._store.partial_path(key=obj.key, sha256=obj.sha256)
        hasher, have = _rehash_partial(partial, obj.size)
        resumed = have > 0
        if have < obj.size or obj.size == 0:
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    have = self._accept_response(response, obj, url, have)
                    if have == 0:
                        hasher = hashlib.sha256()
                    mode = "r+b" if have else "wb"
                    with _open_partial(partial, mode) as out:
                        out.seek(have)
                        out.truncate()
                        have = self._stream_body(response, out, hasher, have, obj, url, counter)
                        _fsync(out, partial)
            except httpx.TimeoutException as exc:
                raise SourceUnavailable(f"timed out after {have} bytes: {exc}", url=url) from exc
            except httpx.TransportError as exc:
                raise SourceUnavailable(
                    f"connection failed after {have} bytes: {type(exc).__name__}: {exc}", url=url
                ) from exc
        if have != obj.size:
            raise SourceUnavailable(f"body ended at {have} of {obj.size} bytes", url=url)
        digest = hasher.hexdigest()
        if digest != obj.sha256:
            partial.unlink(missing_ok=True)
            if resumed:
                # The bytes kept from an earlier attempt (maybe another source) were wrong;
                # this source has not been proven wrong yet: retry it from byte zero.
                raise SourceUnavailable(
                    "sha256 mismatch after resuming a partial download; restarting from zero",
                    url=url,
                )
            raise ChecksumMismatch(
                f"sha256 {digest} differs from the manifest's {obj.sha256}; bytes discarded",
                url=url,
            )
        self._store.publish(partial, key=obj.key, size=obj.size, sha256=obj.sha256)

    def _accept_response(
        self, response: httpx.Response, obj: ObjectToFetch, url: str, have: int
    ) -> int:
        """Check the status and ranges; return the offset the body starts at."""
        status = response.status_code
        if status in _NOT_THERE:
            raise SourceNotFound(f"HTTP {status}", url=url)
        if status == 416:
            # Our partial disagrees with the source's idea of the object: start over.
            self._store.partial_path(key=obj.key, sha256=obj.sha256).unlink(missing_ok=True)
            raise SourceUnavailable("HTTP 416 for our resume range; restarting the object", url=url)
        if status >= 500 or status == 429:
            raise SourceUnavailable(f"HTTP {status}", url=url)
        if status == 200:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) != obj.size:
                raise ChecksumMismatch(
                    f"Content-Length {length} differs from the manifest size {obj.size}", url=url
                )
            return 0
        if status == 206 and have:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match is None or int(match[1]) != have:
                raise SourceUnavailable(
                    f"206 with Content-Range {response.headers.get('content-range')!r}, "
                    f"expected bytes {have}-",
                    url=url,
                )
            if match[3] != "*" and int(match[3]) != obj.size:
                raise ChecksumMismatch(
                    f"source holds {match[3]} bytes, the manifest says {obj.size}", url=url
                )
            return have
        raise SourceNotFound(f"unexpected HTTP {status}", url=url)

    def _stream_body(
        self,
        response: httpx.Response,
        out: io.FileIO,
        hasher: hashlib._Hash,
        have: int,
        obj: ObjectToFetch,
        url: str,
        counter: _Counter,
    ) -> int:
        for chunk in response.iter_raw():
            if self._park.is_set():
                raise DownloadParked(f"parked {obj.key} at {have} of {obj.size} bytes")
            have += len(chunk)
            if have > obj.size:
                raise ChecksumMismatch(f"body is longer than the manifest size {obj.size}", url=url)
            self._limiter.acquire(len(chunk))
            try:
                _write_all(out, chunk)
            except OSError as exc:
                _raise_disk_full(exc, out)
                raise
            hasher.update(chunk)
            counter.value += len(chunk)
            self._on_bytes(len(chunk))
        return have


class _Counter:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def _rehash_partial(partial: Path, size: int) -> tuple[hashlib._Hash, int]:
    """Hash the bytes a previous attempt left, so a resume downloads none of them again."""
    hasher = hashlib.sha256()
    try:
        with open(partial, "rb") as existing:
            have = 0
            while block := existing.read(READ_CHUNK):
                if have + len(block) > size:
                    break
                hasher.update(block)
                have += len(block)
            else:
                return hasher, have
    except FileNotFoundError:
        return hasher, 0
    partial.unlink(missing_ok=True)  # longer than the object: cannot be a prefix of it
    return hashlib.sha256(), 0


def _open_partial(partial: Path, mode: str) -> io.FileIO:
    """Unbuffered, so a full disk surfaces in `write`, never later in `close`."""
    try:
        if mode == "r+b" and not partial.exists():
            mode = "wb"
        return io.FileIO(partial, mode.replace("b", ""))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFull(f"no space left to create {partial}") from exc
        raise


def _write_all(out: io.FileIO, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        written = out.write(view)
        if written is None:
            raise OSError(errno.EAGAIN, "non-blocking write on a regular file")
        view = view[written:]


def _fsync(out: io.FileIO, partial: Path) -> None:
    try:
        os.fsync(out.fileno())
    except OSError as exc:
        _raise_disk_full(exc, out)
        raise


def _raise_disk_full(exc: OSError, out: io.FileIO) -> None:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFull(
            f"the store's file system is full (writing {out.name}); free space or lower "
            "byte_budget, then fill again"
        ) from exc
