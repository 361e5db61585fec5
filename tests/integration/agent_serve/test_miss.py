"""Misses: a fast 404 by default, or an nginx proxy_cache of the origin with slice and lock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appliance_agent.serve.settings import MissMode
from lab.static_nginx import LoggedRequest, StaticNginx, static_nginx
from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    run_appliance,
)

pytestmark = pytest.mark.nginx

KEY = "title-5/720p/seg_0001.ts"
SLICE = 256 * 1024
ORIGIN_PREFIX = "content"


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[StaticNginx]:
    """A plain nginx standing in for the origin (ranges work, as S3's do); content under /content/."""
    root = tmp_path / "origin" / "root"
    (root / ORIGIN_PREFIX).mkdir(parents=True)
    with static_nginx(root, tmp_path / "origin" / "run") as server:
        yield server


@pytest.fixture
def fallback_appliance(tmp_path: Path, origin: StaticNginx) -> Iterator[RunningAppliance]:
    settings = appliance_settings(
        tmp_path / "appliance",
        miss={
            "mode": MissMode.ORIGIN_FALLBACK,
            "origin_url": origin.url(f"{ORIGIN_PREFIX}/"),
            "cache_dir": tmp_path / "appliance" / "cache",
            "slice_size": "256k",
        },
    )
    yield from run_appliance(settings)


def _origin_log(origin: StaticNginx, *, settle_s: float = 0.3) -> list[LoggedRequest]:
    """The origin's access log once it stops growing: nginx writes a line after the response
    is sent, so a client can hold the body before the line is there."""
    lines = origin.requests()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(settle_s)
        again = origin.requests()
        if again == lines:
            return lines
        lines = again
    return lines


def _put_at_origin(origin: StaticNginx, key: str, data: bytes) -> None:
    path = origin.root / ORIGIN_PREFIX / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_miss_without_fallback_is_404_and_asks_no_origin(
    appliance: RunningAppliance, origin: StaticNginx
) -> None:
    _put_at_origin(origin, KEY, b"at the origin only")
    assert httpx.get(appliance.url(KEY), timeout=5).status_code == 404
    assert _origin_log(origin) == []


def test_miss_is_fetched_from_origin_then_served_from_cache(
    fallback_appliance: RunningAppliance, origin: StaticNginx
) -> None:
    data = os.urandom(3 * SLICE + 1234)
    _put_at_origin(origin, KEY, data)
    url = fallback_appliance.url(KEY)
    first = httpx.get(url, timeout=10)
    assert (first.status_code, first.content) == (200, data)
    assert first.headers["x-edgefill-cache"] == "MISS"
    fetched = _origin_log(origin)
    assert len(fetched) == 4  # one ranged request per 256 KiB slice
    assert all(r.range_header.startswith("bytes=") for r in fetched)

    second = httpx.get(url, timeout=10)
    assert (second.content, second.headers["x-edgefill-cache"]) == (data, "HIT")
    ranged = httpx.get(url, headers={"Range": f"bytes={SLICE - 10}-{SLICE + 9}"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, data[SLICE - 10 : SLICE + 10])
    assert _origin_log(origin) == fetched  # all from the cache


def test_concurrent_misses_make_one_origin_fetch_per_slice(
    fallback_appliance: RunningAppliance, origin: StaticNginx
) -> None:
    data = os.urandom(SLICE)
    _put_at_origin(origin, KEY, data)
    url = fallback_appliance.url(KEY)
    bodies: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: bodies.append(httpx.get(url, timeout=15).content))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert bodies == [data] * 8
    assert len(_origin_log(origin)) == 1  # proxy_cache_lock: the others waited for the first


def test_fallback_still_checks_the_signature(
    fallback_appliance: RunningAppliance, origin: StaticNginx
) -> None:
    _put_at_origin(origin, KEY, b"secret bytes")
    expired = fallback_appliance.url(KEY, expires=int(time.time()) - 1)
    assert httpx.get(expired, timeout=5).status_code == 403
    assert _origin_log(origin) == []


def test_object_missing_at_origin_too_is_404(
    fallback_appliance: RunningAppliance, origin: StaticNginx
) -> None:
    assert httpx.get(fallback_appliance.url(KEY), timeout=5).status_code == 404


def test_reload_with_the_cache_processes_running(
    fallback_appliance: RunningAppliance, origin: StaticNginx
) -> None:
    # The cache manager and loader are children of the master too; a reload must not wait on them.
    _put_at_origin(origin, KEY, b"cached")
    assert httpx.get(fallback_appliance.url(KEY), timeout=10).content == b"cached"
    started = time.monotonic()
    assert fallback_appliance.install().reloaded
    assert time.monotonic() - started < 5
    assert httpx.get(fallback_appliance.url(KEY), timeout=10).headers["x-edgefill-cache"] == "HIT"
