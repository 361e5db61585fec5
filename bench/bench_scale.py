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
| playback answer bytes (a session of 6 renditions on 8 appliance pathways and the origin: four session URLs behind an API Gateway host) | here | 16 KiB, whatever the title's length |

Metric: how many figures meet their budget, against how many there are (target 1: all).
Each figure's own result line is in the details.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bench.result import emit, make_result
from bench.run import run_one

PARTS = ("manifest", "heartbeat", "steering-snapshot", "manifest-cluster")
ANSWER_BUDGET_BYTES = 16 * 1024


def playback_answer_bytes() -> int:
    """The playback answer of a production session, as JSON: the most the answer carries."""
    from pydantic import SecretStr

    from bench.bench_player_session import sample_rendition
    from control_plane.catalog.models import MaturityRating, Title
    from control_plane.playback.service import start_session
    from control_plane.playback.session import MAX_PATHWAYS, SessionSigner
    from control_plane.signing.keys import SigningKey
    from control_plane.steering import FleetView, SteerableAppliance, SteerableSite
    from edgefill_contracts import PlaybackResponse

    title_id = "title-19999"
    widths = {"144p": 256, "240p": 426, "480p": 854, "720p": 1280, "1080p": 1920, "2160p": 3840}
    renditions = tuple(sample_rendition(title_id, n, w, 7200.0) for n, w in widths.items())
    title = Title(
        title_id=title_id,
        name="A title",
        year=2026,
        maturity=MaturityRating.PG,
        popularity=1.0,
        renditions=renditions,
    )
    key = SigningKey(
        secret_id="s20261207000000abcdef",
        secret=SecretStr("x" * 43),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    units = frozenset(f"{title_id}/{r.name}" for r in renditions)
    view = FleetView(
        sites=[
            SteerableSite(site_id=f"site-{n:04d}", isp="isp-0001", prefixes=(f"10.{n}.0.0/16",))
            for n in range(5)
        ],
        appliances=[
            SteerableAppliance(
                appliance_id=f"site-{n // 2:04d}-appliance-{n % 2:02d}",
                site_id=f"site-{n // 2:04d}",
                cluster_id=f"site-{n // 2:04d}-c1",
                base_url=f"https://203.0.113.{n}:8443",
                serving=True,
                healthy=True,
                held_units=units,
                accepted_secret_ids=frozenset({key.secret_id}),
            )
            for n in range(10)
        ],
        signing_keys=[key],
        built_at=datetime.now(UTC),
    )
    # An API Gateway host and the gateway's path, as a player sees the session's routes.
    base = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/playback/sessions"
    links = start_session(
        SessionSigner(SecretStr("s" * 43)),
        view=view,
        title=title,
        renditions=renditions,
        client_ip="10.0.0.7",
        sticky_id="a-session-id-0123456789abcdef",
        expires=int((datetime.now(UTC) + timedelta(hours=6)).timestamp()),
        session_url=lambda token, name: f"{base}/{token}/{name}",
    )
    assert len(links.pathways) == MAX_PATHWAYS + 1, links.pathways
    answer = PlaybackResponse(
        title_id=title_id,
        rendition=renditions[-1].name,
        renditions=[r.name for r in renditions],
        session=links,
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
