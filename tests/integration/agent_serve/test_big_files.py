"""Big progressive files take the aio-threads + directio path; concurrent ranges must all work."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    put_object,
    run_appliance,
)

pytestmark = pytest.mark.nginx

KEY = "title-1/full/movie.mp4"
CHUNK = 64 * 1024


@pytest.fixture
def directio_appliance(tmp_path: Path) -> Iterator[RunningAppliance]:
    yield from run_appliance(
        appliance_settings(tmp_path, directio_threshold="1m", threaded_io_extensions=("mp4",))
    )


def test_concurrent_ranges_over_directio_all_succeed(directio_appliance: RunningAppliance) -> None:
    # Regression: with open_file_cache on, concurrent ranged reads of one O_DIRECT file failed
    # with EINVAL (nginx: "pread() ... failed (22: Invalid argument)") and dropped connections.
    data = os.urandom(4 * 1024 * 1024)
    put_object(directio_appliance.settings, KEY, data)
    url = directio_appliance.url(KEY)

    def fetch(client: httpx.Client, n: int) -> bool:
        start = (n * 7919 % (len(data) // CHUNK - 1)) * CHUNK + (n % 3) * 512  # some unaligned
        end = start + CHUNK - 1
        try:
            response = client.get(url, headers={"Range": f"bytes={start}-{end}"})
        except httpx.TransportError:
            return False
        return response.status_code == 206 and response.content == data[start : end + 1]

    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda n: fetch(client, n), range(300)))
    assert all(outcomes), f"{outcomes.count(False)} of {len(outcomes)} ranges failed"
    errors = (directio_appliance.settings.log_dir / "error.log").read_text()
    assert "Invalid argument" not in errors
