"""Benchmark `steering`: one session's steering decision on a fleet of production size.

10,000 appliances in 2,000 sites (100 ISPs of 20 sites), 1,000,000 client prefixes (IPv4 /24s
and IPv6 /48s, 500 per site), 2,000 titles x 4 renditions of which each appliance holds about
150 units, whole titles (every rendition of a title it holds: placement fills the popular head
whole). Clients are drawn from the announced prefixes, titles from a Zipf distribution, plan
ceilings at random. Every decision is a full `rank_appliances` for the session's renditions
(every one up to the plan's ceiling, all of which an appliance must hold): trie lookup,
eligibility, weighted rendezvous, the site's signing key, up to 8 pathways. Signing the
pathways' URLs happens later, per manifest (the `player-session` bench).

Result: decisions per CPU-second of the one thread that decides (one core) against the issue's
floor of 20,000/s (ratio >= 1), with p50/p99 latency in the details, both wall-clock and
thread-CPU time: the host is shared with other work (its load average is reported), and CPU time
is what preemption does not distort. `ok` also requires p99 (the lower of the two) under 1 ms.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from bench.result import emit, make_result
from control_plane.playback.session import MAX_PATHWAYS
from control_plane.signing.keys import SigningKey
from control_plane.steering import (
    FleetView,
    SteerableAppliance,
    SteerableSite,
    rank_appliances,
)

SITES = 2_000
SITES_PER_ISP = 20
APPLIANCES_PER_SITE = 5
PREFIXES_PER_SITE = 500
TITLES = 2_000
RENDITIONS = ("480p", "720p", "1080p", "2160p")
HELD_PER_APPLIANCE = 150
DECISIONS = int(os.environ.get("EDGEFILL_BENCH_STEERING_DECISIONS", "200000"))
FLOOR_PER_S = 20_000.0
P99_LIMIT_S = 0.001


def site_prefixes(site: int) -> list[str]:
    """400 IPv4 /24s and 100 IPv6 /48s per site, none shared with another site."""
    v4 = [
        f"{10 + (site * 400 + i) // 65536}.{((site * 400 + i) // 256) % 256}.{(site * 400 + i) % 256}.0/24"
        for i in range(400)
    ]
    v6 = [f"2001:db8:{site:x}:{i:x}00::/56" for i in range(100)]
    return v4 + v6


def build_view(rng: random.Random, now: datetime) -> tuple[FleetView, list[str], float]:
    """The synthetic fleet as a FleetView, its units, and the seconds FleetView() itself took."""
    titles = [f"title-{t:05d}" for t in range(TITLES)]
    units = [f"{title}/{r}" for title in titles for r in RENDITIONS]
    weights = [1 / (i + 1) for i in range(len(titles))]
    head = set(titles[:25])
    held_titles = HELD_PER_APPLIANCE // len(RENDITIONS)
    sites, appliances = [], []
    for s in range(SITES):
        sites.append(
            SteerableSite(f"site-{s:04d}", f"isp-{s // SITES_PER_ISP:03d}", tuple(site_prefixes(s)))
        )
        for a in range(APPLIANCES_PER_SITE):
            held_by_title = set(head)
            while len(held_by_title) < held_titles:
                held_by_title.update(rng.choices(titles, weights=weights, k=1))
            held = {f"{title}/{r}" for title in held_by_title for r in RENDITIONS}
            appliances.append(
                SteerableAppliance(
                    appliance_id=f"app-{s:04d}-{a}",
                    site_id=f"site-{s:04d}",
                    cluster_id=f"site-{s:04d}-c1",
                    base_url=f"https://app-{s:04d}-{a}.isp.example:8443",
                    serving=rng.random() > 0.05,
                    healthy=rng.random() > 0.02,
                    held_units=frozenset(held),
                    accepted_secret_ids=frozenset({"k1", "k2"} if rng.random() > 0.1 else {"k1"}),
                    weight=rng.uniform(0.2, 1.0),
                )
            )
    keys = [
        SigningKey("k1", SecretStr("bench-secret-one-0123456789"), now - timedelta(days=3)),
        SigningKey("k2", SecretStr("bench-secret-two-0123456789"), now),
    ]
    started = time.perf_counter()
    view = FleetView(sites=sites, appliances=appliances, signing_keys=keys, built_at=now)
    return view, units, time.perf_counter() - started


def client_ips(rng: random.Random, count: int) -> list[str]:
    ips = []
    for _ in range(count):
        s = rng.randrange(SITES)
        if rng.random() < 0.8:
            i = s * 400 + rng.randrange(400)
            ips.append(f"{10 + i // 65536}.{(i // 256) % 256}.{i % 256}.{rng.randrange(1, 255)}")
        else:
            ips.append(f"2001:db8:{s:x}:{rng.randrange(100):x}00::{rng.randrange(1, 65535):x}")
    return ips


def main() -> int:
    rng = random.Random(4)
    now = datetime.now(UTC)
    view, units, build_s = build_view(rng, now)
    print(f"FleetView: {view.prefix_count} prefixes indexed in {build_s:.1f} s", file=sys.stderr)

    titles = sorted({unit.split("/", 1)[0] for unit in units})
    weights = [1 / (i + 1) for i in range(len(titles))]
    ceilings = [rng.randrange(len(RENDITIONS)) for _ in range(DECISIONS)]
    requests = list(
        zip(
            client_ips(rng, DECISIONS),
            (
                tuple(f"{title}/{r}" for r in RENDITIONS[: ceiling + 1])
                for title, ceiling in zip(
                    rng.choices(titles, weights=weights, k=DECISIONS), ceilings, strict=True
                )
            ),
            (f"session-{i}" for i in range(DECISIONS)),
            strict=True,
        )
    )
    gc.collect()
    gc.freeze()
    latencies, cpu_latencies = [], []
    with_appliances = 0
    clock, cpu_clock = time.perf_counter, time.thread_time
    wall, cpu = clock(), cpu_clock()
    pathways = 0
    for ip, session_units, session in requests:
        t0, c0 = clock(), cpu_clock()
        decision = rank_appliances(
            view=view,
            client_ip=ip,
            units=session_units,
            session_id=session,
            max_appliances=MAX_PATHWAYS,
        )
        cpu_latencies.append(cpu_clock() - c0)
        latencies.append(clock() - t0)
        with_appliances += bool(decision.appliances)
        pathways += len(decision.appliances)
    elapsed, cpu_elapsed = clock() - wall, cpu_clock() - cpu
    latencies.sort()
    cpu_latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99)]
    cpu_p99 = cpu_latencies[int(len(cpu_latencies) * 0.99)]
    per_s = len(latencies) / cpu_elapsed
    result = make_result(
        name="steering",
        metric="decisions_per_second_one_core",
        value=per_s,
        unit="decisions/s",
        baseline=FLOOR_PER_S,
        target=1.0,
        p50_ms=round(p50 * 1e3, 4),
        p99_ms=round(p99 * 1e3, 4),
        mean_ms=round(statistics.fmean(latencies) * 1e3, 4),
        cpu_p99_ms=round(cpu_p99 * 1e3, 4),
        p99_limit_ms=P99_LIMIT_S * 1e3,
        wall_decisions_per_second=round(len(latencies) / elapsed, 1),
        load_average_1m=round(os.getloadavg()[0], 2),
        decisions=len(latencies),
        answered_by_appliances=round(with_appliances / len(latencies), 4),
        mean_appliance_pathways=round(pathways / len(latencies), 2),
        appliances=len(view.appliances),
        sites=len(view.sites),
        prefixes=view.prefix_count,
        view_build_s=round(build_s, 2),
        max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        baseline_is="the issue's floor of 20,000 decisions/s (no slower implementation to race)",
    )
    emit(result.model_copy(update={"ok": result.ok and min(p99, cpu_p99) < P99_LIMIT_S}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
