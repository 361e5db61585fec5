"""Playback end to end under uvicorn on loopback: token check, entitlement, steering, signing.

Two processes on this machine: the playback app under uvicorn (one worker), and this one, which
runs moto (DynamoDB, Cognito, S3) in a thread and the load (a bounded number of requests from a
few threads). The client address comes in X-Forwarded-For, which uvicorn trusts from loopback. The
fleet is a static one-site view (two appliances holding every title), so steering ranks and
signs real URLs without a fleet service. Each request does four DynamoDB round trips to moto:
session revocation, profile, subscription, and the play event (titles are cached).

The baseline, measured in the same run, is the same server's /healthz: what uvicorn and the
app factory cost with no work, so the ratio is the share of the server's bare capacity that
playback keeps.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import replace

import httpx

from bench.result import emit, make_result

REQUESTS = 600
CONCURRENCY = 8
TITLES = 40
VIEWERS = 4
START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_S} s")


@contextmanager
def _process(command: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(ready_url)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve(port: int) -> None:
    """The server process: the real playback app with a static fleet, under uvicorn."""
    import uvicorn

    from control_plane.catalog.store import CatalogStore
    from control_plane.common.settings import ServiceSettings
    from control_plane.playback.app import create_app
    from tests.support.playback_world import StaticFleet

    settings = ServiceSettings()
    app = create_app(settings)
    titles = list(CatalogStore.from_settings(settings).scan())
    app.state.playback = replace(app.state.playback, fleet=StaticFleet(titles))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _load(call: Callable[[httpx.Client, int], httpx.Response]) -> tuple[float, list[float]]:
    """(requests per second, latencies in ms) of REQUESTS calls over CONCURRENCY threads."""
    latencies: list[float] = []
    clients = [httpx.Client(timeout=10.0) for _ in range(CONCURRENCY)]

    def worker(slot: int) -> None:
        client = clients[slot]
        for n in range(slot, REQUESTS, CONCURRENCY):
            t0 = time.perf_counter()
            response = call(client, n)
            latencies.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"request {n}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(worker, range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return REQUESTS / elapsed, latencies


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> int:
    from tests.support.aws import MotoServer, provision_test_stack, start_moto_server
    from tests.support.playback_world import CLIENT_IP, put_titles, subscribed_viewer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    moto = start_moto_server()
    server: MotoServer = next(moto)
    settings = provision_test_stack(server)
    put_titles(settings, TITLES)
    viewers = [subscribed_viewer(settings, plan_id="premium") for _ in range(VIEWERS)]
    port = _free_port()
    env = {
        **os.environ,
        "EDGEFILL_ENVIRONMENT": "development",
        "EDGEFILL_AWS_ENDPOINT_URL": server.endpoint_url,
        "EDGEFILL_NAME_PREFIX": settings.name_prefix,
        "EDGEFILL_ORIGIN_BUCKET": settings.origin_bucket,
        "EDGEFILL_MANIFEST_BUCKET": settings.manifest_bucket,
        "EDGEFILL_USER_POOL_ID": settings.user_pool_id,
        "EDGEFILL_USER_POOL_CLIENT_ID": settings.user_pool_client_id,
        "EDGEFILL_URL_SIGNING_SECRET": "bench-url-signing-secret-0123",
    }
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.bench_playback", "serve", str(port)]

    def play(client: httpx.Client, n: int) -> httpx.Response:
        viewer = viewers[n % VIEWERS]
        return client.post(
            f"{base}/playback/start",
            json={"profile_id": viewer.profile_id, "title_id": f"title-{n % TITLES + 1:04d}"},
            headers={**viewer.user.headers, "X-Forwarded-For": CLIENT_IP},
        )

    def health(client: httpx.Client, n: int) -> httpx.Response:
        return client.get(f"{base}/healthz")

    with _process(command, env, f"{base}/healthz"):
        first = play(httpx.Client(timeout=10.0), 0)
        urls = len(first.json().get("urls", [])) if first.status_code == 200 else -1
        _load(play)  # warm: JWKS, title cache, connection pools
        health_rps, health_ms = _load(health)
        play_rps, play_ms = _load(play)
    with suppress(StopIteration):
        next(moto)  # runs the generator's cleanup: stops the moto server
    print(
        f"playback: {REQUESTS} requests x{CONCURRENCY}: {play_rps:.0f} req/s, "
        f"p50 {statistics.median(play_ms):.1f} ms, p99 {p99(play_ms):.1f} ms; "
        f"/healthz {health_rps:.0f} req/s p99 {p99(health_ms):.1f} ms; appliance URLs {urls}"
    )
    emit(
        make_result(
            name="playback",
            metric="requests per second",
            value=play_rps,
            unit="req/s",
            baseline=health_rps,
            target=0.05,
            baseline_is="/healthz of the same server in the same run",
            p50_ms=round(statistics.median(play_ms), 2),
            p99_ms=round(p99(play_ms), 2),
            healthz_p99_ms=round(p99(health_ms), 2),
            requests=REQUESTS,
            concurrency=CONCURRENCY,
            appliance_urls_per_response=urls,
            dynamodb_round_trips_per_request=4,
            note="moto, uvicorn and the load generator share 2 cores",
        )
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
        raise SystemExit(0)
    raise SystemExit(main())
