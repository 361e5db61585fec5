"""Download edge cases a real server will not produce on demand (httpx.MockTransport).

Real-server behaviour (nginx, S3, kill and resume) is in tests/integration/agent_fill.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from appliance_agent.download import ObjectDownloader, SourceUrl
from appliance_agent.errors import AllSourcesFailed, DownloadParked
from appliance_agent.rate_limit import RateLimiter
from appliance_agent.store import Store
from tests.support.manifests import File

DATA = bytes(range(256)) * 400  # 102_400 bytes
KEY = "title/r1/seg.bin"
PEER = SourceUrl("http://peer.test/title/r1/seg.bin")
ORIGIN = SourceUrl("http://origin.test/title/r1/seg.bin?X-Amz-Signature=secret", is_origin=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "store")
    yield store
    store.close()


def _object(data: bytes = DATA) -> File:
    return File(key=KEY, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _downloader(
    store: Store, handler: Callable[[httpx.Request], httpx.Response], attempts: int = 3
) -> ObjectDownloader:
    return ObjectDownloader(
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        store=store,
        limiter=RateLimiter(0),
        attempts_per_source=attempts,
        retry_backoff_s=0.0,
        park=threading.Event(),
    )


def _streamed(status: int, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose body streams like a socket's (a bytes body would arrive pre-read)."""
    return httpx.Response(
        status, headers={"Content-Length": str(len(data)), **(headers or {})}, content=iter([data])
    )


def _served(store: Store) -> bytes | None:
    path = store.object_path(KEY)
    return path.read_bytes() if path.exists() else None


def _origin_only(response: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "peer.test":
            return httpx.Response(404)
        return response

    return handler


def test_a_resume_uses_range_and_appends_only_the_tail(store: Store) -> None:
    obj = _object()
    partial = store.partial_path(key=KEY, sha256=obj.sha256)
    partial.write_bytes(DATA[:40_000])
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("range"))
        return _streamed(
            206, DATA[40_000:], {"Content-Range": f"bytes 40000-{len(DATA) - 1}/{len(DATA)}"}
        )

    result = _downloader(store, handler).fetch(obj, [PEER])
    assert seen == ["bytes=40000-"]
    assert result.bytes_transferred == len(DATA) - 40_000
    assert _served(store) == DATA
    assert not partial.exists()


def test_a_server_ignoring_range_restarts_the_file(store: Store) -> None:
    obj = _object()
    partial = store.partial_path(key=KEY, sha256=obj.sha256)
    partial.write_bytes(b"\xff" * 40_000)  # not even a prefix of the object
    result = _downloader(store, lambda _r: _streamed(200, DATA)).fetch(obj, [PEER])
    assert result.bytes_transferred == len(DATA)
    assert _served(store) == DATA


def test_a_lying_content_range_is_not_appended(store: Store) -> None:
    obj = _object()
    store.partial_path(key=KEY, sha256=obj.sha256).write_bytes(DATA[:40_000])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "peer.test":
            return _streamed(206, DATA[:100], {"Content-Range": "bytes 0-99/102400"})
        return _streamed(200, DATA)

    result = _downloader(store, handler, attempts=2).fetch(obj, [PEER, ORIGIN])
    assert result.source_rank == 1 and result.from_origin
    assert _served(store) == DATA


def test_a_truncated_body_is_retried_and_resumed_from_where_it_stopped(store: Store) -> None:
    obj = _object()
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        if len(ranges) == 1:
            # Declares the full length but sends half: the client sees a short body.
            return httpx.Response(
                200, headers={"Content-Length": str(len(DATA))}, content=iter([DATA[:50_000]])
            )
        return _streamed(
            206, DATA[50_000:], {"Content-Range": f"bytes 50000-{len(DATA) - 1}/{len(DATA)}"}
        )

    result = _downloader(store, handler).fetch(obj, [PEER])
    assert ranges == [None, "bytes=50000-"]
    assert result.bytes_transferred == len(DATA)
    assert _served(store) == DATA


def test_a_longer_body_than_the_manifest_size_is_a_mismatch(store: Store) -> None:
    obj = _object()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "peer.test":
            # No Content-Length (chunked): only counting the body reveals the extra bytes.
            return httpx.Response(200, content=iter([DATA, b"extra"]))
        return _streamed(200, DATA)

    result = _downloader(store, handler).fetch(obj, [PEER, ORIGIN])
    assert result.from_origin
    assert _served(store) == DATA


def test_a_wrong_content_length_moves_on_before_reading_the_body(store: Store) -> None:
    obj = _object()
    result = _downloader(
        store,
        lambda r: _streamed(200, DATA[:10]) if r.url.host == "peer.test" else _streamed(200, DATA),
    ).fetch(obj, [PEER, ORIGIN])
    assert result.from_origin and result.bytes_transferred == len(DATA)


def test_server_errors_are_retried_then_the_next_source_is_used(store: Store) -> None:
    obj = _object()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        if request.url.host == "peer.test":
            return httpx.Response(503)
        return _streamed(200, DATA)

    _downloader(store, handler, attempts=3).fetch(obj, [PEER, ORIGIN])
    assert calls == ["peer.test"] * 3 + ["origin.test"]


def test_a_404_is_not_retried(store: Store) -> None:
    obj = _object()
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        return _origin_only(_streamed(200, DATA))(request)

    _downloader(store, handler, attempts=3).fetch(obj, [PEER, ORIGIN])
    assert calls == ["peer.test", "origin.test"]


def test_when_every_source_fails_nothing_is_served_and_urls_are_redacted(store: Store) -> None:
    obj = _object()
    bad = DATA[:-1] + b"\x00"
    with pytest.raises(AllSourcesFailed) as caught:
        _downloader(store, _origin_only(_streamed(200, bad))).fetch(obj, [PEER, ORIGIN])
    message = str(caught.value)
    assert "HTTP 404" in message and "sha256" in message
    assert "secret" not in message and "<redacted>" in message
    assert _served(store) is None
    assert list(store.partial_dir.iterdir()) == []


def test_a_transport_error_is_retried(store: Store) -> None:
    obj = _object()
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return _streamed(200, DATA)

    _downloader(store, handler).fetch(obj, [PEER])
    assert calls == 2 and _served(store) == DATA


def test_a_parked_download_keeps_its_partial_and_publishes_nothing(store: Store) -> None:
    obj = _object()
    park = threading.Event()

    def body() -> Iterator[bytes]:
        yield DATA[:30_000]
        park.set()
        yield DATA[30_000:]

    downloader = ObjectDownloader(
        client=httpx.Client(
            transport=httpx.MockTransport(lambda _r: httpx.Response(200, content=body()))
        ),
        store=store,
        limiter=RateLimiter(0),
        attempts_per_source=3,
        retry_backoff_s=0.0,
        park=park,
    )
    with pytest.raises(DownloadParked):
        downloader.fetch(obj, [PEER])
    assert store.partial_path(key=KEY, sha256=obj.sha256).read_bytes() == DATA[:30_000]
    assert _served(store) is None


def test_a_garbled_content_length_is_ignored_and_the_body_itself_checked(store: Store) -> None:
    obj = _object()
    garbled = httpx.Response(200, headers={"Content-Length": "lots"}, content=iter([DATA]))
    result = _downloader(store, lambda _r: garbled).fetch(obj, [PEER])
    assert result.bytes_transferred == len(DATA) and _served(store) == DATA


def test_a_resumed_partial_with_wrong_bytes_is_refetched_from_zero(store: Store) -> None:
    obj = _object()
    store.partial_path(key=KEY, sha256=obj.sha256).write_bytes(b"\xee" * 40_000)
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        if request.headers.get("range"):
            return _streamed(
                206, DATA[40_000:], {"Content-Range": f"bytes 40000-{len(DATA) - 1}/{len(DATA)}"}
            )
        return _streamed(200, DATA)

    result = _downloader(store, handler).fetch(obj, [PEER])
    assert ranges == ["bytes=40000-", None]
    assert result.source_rank == 0 and _served(store) == DATA


def test_bytes_from_a_source_that_sent_too_much_are_not_resumed_by_the_next(
    store: Store,
) -> None:
    obj = _object()
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "peer.test":
            return httpx.Response(200, content=iter([b"\xee" * 60_000, DATA]))
        ranges.append(request.headers.get("range"))
        return _streamed(200, DATA)

    result = _downloader(store, handler).fetch(obj, [PEER, ORIGIN])
    assert ranges == [None]  # the origin starts from zero, not after the peer's bytes
    assert result.from_origin and _served(store) == DATA


def test_a_416_discards_the_partial_so_the_retry_starts_over(store: Store) -> None:
    obj = _object()
    store.partial_path(key=KEY, sha256=obj.sha256).write_bytes(DATA[:1000])
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        if request.headers.get("range"):
            return httpx.Response(416)
        return _streamed(200, DATA)

    _downloader(store, handler).fetch(obj, [PEER])
    assert ranges == ["bytes=1000-", None]
    assert _served(store) == DATA
