"""Playback end to end under uvicorn on loopback: token check, entitlement, steering, signing.

Three processes on this machine: moto (DynamoDB, Cognito, S3), the playback app under uvicorn
(one worker), and this load generator (a bounded number of requests from a few threads). The
fleet is a static one-site view (two appliances holding every title), so steering ranks and
signs real URLs without a fleet service. The client address comes in X-Forwarded-For, which
uvicorn trusts from loopback.

Each playback request makes four DynamoDB calls (session revocation, profile, subscription, the
play event; titles are cached). The baseline, measured in the same run at the same concurrency,
is those four calls made straight to moto with boto3: the storage floor. The ratio is the share
of that floor playback keeps once token checks, steering, signing, JSON and HTTP are added.
/healthz of the same server is reported alongside for the HTTP stack's own ceiling.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx

from bench.local_servers import free_port, moto_server, process
from bench.result import emit, make_result

if TYPE_CHECKING:
    from control_plane.common.settings import ServiceSettings
    from tests.support.playback_world import Viewer

REQUESTS = 600
CONCURRENCY = 8
TITLES = 40
VIEWERS = 4


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


def _storage_calls(
    settings: ServiceSettings, viewers: list[Viewer]
) -> Callable[[httpx.Client, int], httpx.Response]:
    """What one playback request asks of DynamoDB, made directly (the baseline)."""
    import boto3

    resource = boto3.resource(
        "dynamodb", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    revoked = resource.Table(settings.table_name("auth-revoked-sessions"))
    profiles = resource.Table(settings.table_name("auth-profiles"))
    subscriptions = resource.Table(settings.table_name("billing-subscriptions"))
    events = resource.Table(settings.table_name("recs-events"))
    ok = httpx.Response(200)

    def call(_: httpx.Client, n: int) -> httpx.Response:
        viewer = viewers[n % len(viewers)]
        account = viewer.user.account_id
        revoked.get_item(Key={"session_id": f"session-{n}"})
        profiles.get_item(Key={"account_id": account, "profile_id": viewer.profile_id})
        subscriptions.get_item(Key={"account_id": account}, ConsistentRead=True)
        events.put_item(Item={"profile_key": f"{account}#x", "event_id": f"floor-{n}", "doc": "{}"})
        return ok

    return call


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
    with moto_server() as moto_url:
        return _run(moto_url)


def _run(moto_url: str) -> int:
    from tests.support.aws import MotoServer, provision_test_stack
    from tests.support.playback_world import CLIENT_IP, put_titles, subscribed_viewer

    settings = provision_test_stack(MotoServer(endpoint_url=moto_url))
    put_titles(settings, TITLES, upload=False)
    viewers = [subscribed_viewer(settings, plan_id="premium") for _ in range(VIEWERS)]
    port = free_port()
    env = {
        **os.environ,
        "EDGEFILL_ENVIRONMENT": "development",
        "EDGEFILL_AWS_ENDPOINT_URL": moto_url,
        "EDGEFILL_NAME_PREFIX": settings.name_prefix,
        "EDGEFILL_ORIGIN_BUCKET": settings.origin_bucket,
        "EDGEFILL_MANIFEST_BUCKET": settings.manifest_bucket,
        "EDGEFILL_USER_POOL_ID": settings.user_pool_id,
        "EDGEFILL_USER_POOL_CLIENT_ID": settings.user_pool_client_id,
        "EDGEFILL_URL_SIGNING_SECRET": "bench-url-signing-secret-0123",
        "EDGEFILL_SESSION_SECRET": "bench-playback-session-secret-0123",
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

    with process(command, env, f"{base}/healthz"):
        first = play(httpx.Client(timeout=10.0), 0)
        # The session's pathways: the appliances steering chose, then "origin".
        pathways = len(first.json()["session"]["pathways"]) - 1 if first.status_code == 200 else -1
        _load(play)  # warm: JWKS, title cache, connection pools
        health_rps, health_ms = _load(health)
        play_rps, play_ms = _load(play)
    floor_rps, floor_ms = _load(_storage_calls(settings, viewers))
    print(
        f"playback: {REQUESTS} requests x{CONCURRENCY}: {play_rps:.0f} req/s, "
        f"p50 {statistics.median(play_ms):.1f} ms, p99 {p99(play_ms):.1f} ms; "
        f"storage floor (4 DynamoDB calls) {floor_rps:.0f}/s p99 {p99(floor_ms):.1f} ms; "
        f"/healthz {health_rps:.0f} req/s p99 {p99(health_ms):.1f} ms; appliance pathways {pathways}"
    )
    emit(
        make_result(
            name="playback",
            metric="requests per second",
            value=play_rps,
            unit="req/s",
            baseline=floor_rps,
            target=0.5,
            baseline_is="the same four DynamoDB calls per request, straight to moto, same run",
            storage_floor_p99_ms=round(p99(floor_ms), 2),
            healthz_req_per_s=round(health_rps, 1),
            p50_ms=round(statistics.median(play_ms), 2),
            p99_ms=round(p99(play_ms), 2),
            healthz_p99_ms=round(p99(health_ms), 2),
            requests=REQUESTS,
            concurrency=CONCURRENCY,
            appliance_pathways_per_session=pathways,
            dynamodb_round_trips_per_request=4,
            note="moto, uvicorn and the load generator are three processes on 2 cores",
        )
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
        raise SystemExit(0)
    raise SystemExit(main())
