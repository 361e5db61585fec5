"""Benchmark `holdings`: what an appliance holding 20,000 titles x 6 renditions reports, exactly.

The heartbeat says which units of the applied manifest are held whole as a bitmap over the
manifest's sorted units (edgefill_contracts.holdings). The worst case for its size is every
second unit held (nothing to compress); the realistic one, a catalog held but for a random 2 %.
Both are measured on a manifest of one file per rendition (120,000 objects) and an index that
holds them: on the appliance, `summarize_holdings` (the pass that also counts bytes and lists
what is missing, run every 30 s during a fill); on the control plane, decoding one bitmap
(done once per appliance and bitmap, then cached: `HeldUnitsCache`).

Metric: the worst-case bitmap's characters against DynamoDB's 400 KB item limit (the health
record stores the last heartbeat), target at most a quarter of it. Details: both cases' sizes,
the agent's and the control plane's times, and the fleet-wide decode cost if all 10,000
appliances changed their holdings at once (each then decoded once).
"""

from __future__ import annotations

import random
import sys
import time
from datetime import UTC, datetime

from appliance_agent.delta import summarize_holdings
from appliance_agent.store_index import IndexEntry
from bench.result import emit, make_result
from edgefill_contracts import FillWindow, HeldDigest
from edgefill_contracts.holdings import decode_held_units, held_units, unit_order
from edgefill_contracts.manifest import (
    Manifest,
    ManifestSource,
    ManifestTitle,
    ManifestUnit,
    manifest_header,
)

TITLES = 20_000
RENDITIONS = ("240p", "360p", "480p", "720p", "1080p", "2160p")
FLEET = 10_000
DYNAMODB_ITEM_BYTES = 400 * 1024
TARGET = 0.25
SHA = "a" * 64


def manifest() -> Manifest:
    source = ManifestSource(name="origin", kind="origin")
    titles = [
        ManifestTitle(
            title=f"title-{t:05d}",
            units=tuple(
                ManifestUnit(rendition=r, sources=(0,), files=(("stream.mp4", 1 << 30, SHA),))
                for r in RENDITIONS
            ),
        )
        for t in range(TITLES)
    ]
    header = manifest_header(
        appliance_id="a1",
        version="m1",
        generated_at=datetime.now(UTC),
        fill_window=FillWindow(),
        byte_budget=1 << 60,
        sources_expire_at=1,
        sources=[source],
        titles=titles,
    )
    return Manifest(header=header, titles=tuple(titles))


def measure(listed: Manifest, held_fraction: float, rng: random.Random) -> dict[str, float]:
    index = {
        o.key: IndexEntry(key=o.key, size=o.size, sha256=SHA, verified_at=0.0)
        for o in listed.entries()
        if rng.random() < held_fraction
    }
    started = time.perf_counter()
    holdings = summarize_holdings(listed, index)
    summarize_s = time.perf_counter() - started
    digest = HeldDigest(manifest_version="m1", held_units=holdings.held_units)
    order = unit_order(listed)
    started = time.perf_counter()
    decoded = decode_held_units(order, holdings.held_units)
    decode_s = time.perf_counter() - started
    if decoded != held_units(order=order, held=digest) or len(decoded) != len(index):
        raise SystemExit("holdings: the decoded bitmap does not match what the index holds")
    return {
        "chars": len(holdings.held_units),
        "units_held": len(decoded),
        "missing_keys": len(holdings.missing_keys),
        "summarize_s": round(summarize_s, 3),
        "decode_s": round(decode_s, 4),
    }


def main() -> int:
    rng = random.Random(7)
    listed = manifest()
    worst = measure(listed, 0.5, rng)
    realistic = measure(listed, 0.98, rng)
    print(f"holdings: worst {worst}, realistic {realistic}", file=sys.stderr)
    emit(
        make_result(
            name="holdings",
            metric="worst-case held-units bitmap in a heartbeat",
            value=worst["chars"],
            unit="characters",
            baseline=DYNAMODB_ITEM_BYTES,
            target=TARGET,
            direction="lower",
            units=TITLES * len(RENDITIONS),
            worst_half_held=worst,
            realistic_98pct_held=realistic,
            fleet_decode_all_changed_s=round(worst["decode_s"] * FLEET, 1),
            old_rule_missing_keys_limit=1_000,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
