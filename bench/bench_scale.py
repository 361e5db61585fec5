"""Benchmark `scale`: the production-size day of the `scale` issue, figure by figure.

Runs the benchmarks that measure each contract at production size (10,000 appliances, 2,000
sites, 1,000,000 prefixes, 20,000 titles x 6 renditions), each in its own interpreter as
`make bench ONLY=<name>` would, and adds the playback answer's size:

| figure | benchmark | budget |
|---|---|---|
| manifest bytes, parse time and RSS on the appliance | `manifest` | 20 MB, 2 s, 300 MB |
| heartbeat calls, rate and cost against moto | `heartbeat` | 4 calls per heartbeat |
| steering snapshot cold load and RSS, refresh, job build | `steering-snapshot` | 3 s, 1 GiB |
| one cluster's manifest worker | `manifest-cluster` | 150 s |
| playback answer bytes (4 appliance URLs, the origin and a presigned URL per file, a Lambda session token in each) | here | 16 KiB, whatever the title's length |

Metric: how many figures meet their budget, against how many there are (target 1: all).
Each figure's own result line is in the details.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from bench.result import emit, make_result
from bench.run import run_one

PARTS = ("manifest", "heartbeat", "steering-snapshot", "manifest-cluster")
ANSWER_BUDGET_BYTES = 16 * 1024


def playback_answer_bytes() -> int:
    """The playback answer for one rendition of a production fleet's decision, as JSON."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "ASIA" + "X" * 16)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x" * 40)
    # A Lambda role's session token is ~1,000 characters and rides in every presigned URL.
    os.environ["AWS_SESSION_TOKEN"] = "IQoJb3JpZ2luX2VjE" + "A" * 1000
    from pydantic import SecretStr

    from control_plane.common.settings import Environment, ServiceSettings
    from control_plane.signing.keys import SigningKey
    from control_plane.signing.origin import S3OriginSigner
    from control_plane.steering import FleetView, SteerableAppliance, SteerableSite, rank_sources
    from edgefill_contracts import PlaybackResponse

    title, rendition = "title-19999", "2160p"
    unit = f"{title}/{rendition}"
    key = SigningKey(
        secret_id="s20261207000000abcdef",
        secret=SecretStr("x" * 43),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    view = FleetView(
        sites=[
            SteerableSite(site_id=f"site-{n:04d}", isp="isp-0001", prefixes=(f"10.{n}.0.0/16",))
            for n in range(3)
        ],
        appliances=[
            SteerableAppliance(
                appliance_id=f"site-{n // 2:04d}-appliance-{n % 2:02d}",
                site_id=f"site-{n // 2:04d}",
                cluster_id=f"site-{n // 2:04d}-c1",
                base_url=f"https://203.0.113.{n}:8443",
                serving=True,
                healthy=True,
                held_units=frozenset({unit}),
                accepted_secret_ids=frozenset({key.secret_id}),
            )
            for n in range(6)
        ],
        signing_keys=[key],
        built_at=datetime.now(UTC),
    )
    settings = ServiceSettings(
        environment=Environment.DEVELOPMENT, origin_bucket="edgefill-prod-origin-0123456789ab"
    )
    origin = S3OriginSigner(settings=settings)
    now = datetime.now(UTC)
    files = [f"{unit}/index.m3u8", f"{unit}/media.mp4"]
    decision = rank_sources(
        view=view,
        client_ip="10.0.0.7",
        title_id=title,
        rendition=rendition,
        origin_key=files[0],
        session_id="a-session-id-0123456789abcdef",
        now=now,
        ttl=timedelta(hours=6),
        origin=origin,
    )
    assert len(decision.urls) == 4
    answer = PlaybackResponse(
        title_id=title,
        rendition=rendition,
        playlist=f"{rendition}/index.m3u8",
        files=[f.removeprefix(f"{title}/") for f in files],
        urls=list(decision.urls),
        origin=decision.origin,
        origin_files={
            f.removeprefix(f"{title}/"): origin(key=f, expires_at=decision.origin.expires_at)
            for f in files
        },
    )
    return len(answer.model_dump_json().encode())


def main() -> int:
    parts: dict[str, object] = {}
    met = 0
    for name in PARTS:
        outcome = run_one(name, "bench.bench_" + name.replace("-", "_"))
        if isinstance(outcome, str):
            parts[name] = {"error": outcome, "ok": False}
            continue
        parts[name] = outcome.model_dump()
        met += outcome.ok
    answer = playback_answer_bytes()
    answer_ok = answer <= ANSWER_BUDGET_BYTES
    met += answer_ok
    parts["playback-answer"] = {"bytes": answer, "budget": ANSWER_BUDGET_BYTES, "ok": answer_ok}
    total = len(PARTS) + 1
    result = make_result(
        name="scale",
        metric="production-size figures within their budgets (manifest, heartbeat, steering "
        "snapshot, per-cluster manifest worker, playback answer)",
        value=met,
        unit="figures",
        baseline=total,
        target=1.0,
        parts=json.loads(json.dumps(parts, default=str)),
    )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
