"""Benchmark `prefixes`: a million client prefixes, loaded as the steering snapshot will load them.

Today a playback container builds a radix trie of every site's prefixes (`PrefixIndex`) on its
cold start; the steering snapshot instead carries them flattened (`PrefixTable`): built once by
the snapshot job, loaded from bytes. 1,000,000 prefixes for 2,000 sites: 800,000 IPv4 /24s and
200,000 IPv6 /48s, each given to a random site, so neighbours rarely share a site and ranges do
not merge (the table's worst case), plus a covering /16 every 256 /24s announced by yet another
site, so ranges nest.

Metric: the table's cold load in seconds against the trie's build in the same run (target at
most 0.1 of it). Details: the job's build time, the bytes (raw and gzip), the resident memory a
fresh process adds to load the table against the trie's (from the trie's file of entries), and lookups per second of both on
the same 200,000 client addresses (`ok` also needs the table at least half as fast as the trie,
and the two to agree on every address).
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.result import emit, make_result
from control_plane.steering.prefix_table import PrefixTable
from control_plane.steering.prefixes import PrefixIndex

SITES = 2_000
V4_PREFIXES = 800_000
V6_PREFIXES = 200_000
LOOKUPS = 200_000
LOAD_TARGET = 0.1
LOOKUP_FLOOR = 0.5

# Loads one structure in a fresh interpreter ("none": imports only, the baseline) and prints
# its peak resident size in KiB (bench.process_memory).
_RSS_PROBE = """
import json, sys
from pathlib import Path
from bench.process_memory import peak_rss_bytes
from control_plane.steering.prefix_table import PrefixTable
from control_plane.steering.prefixes import PrefixIndex
if sys.argv[1] == "table":
    kept = PrefixTable.from_bytes(Path(sys.argv[2]).read_bytes())
elif sys.argv[1] == "trie":
    kept = PrefixIndex(tuple(e) for e in json.loads(Path(sys.argv[2]).read_text()))
print(peak_rss_bytes() // 1024)
"""


def entries(rng: random.Random) -> list[tuple[str, str]]:
    found = []
    for n in range(V4_PREFIXES):
        found.append((f"{10 + n // 65536}.{(n // 256) % 256}.{n % 256}.0/24", _site(rng)))
        if n % 256 == 0:
            found.append((f"{10 + n // 65536}.{(n // 256) % 256}.0.0/16", _site(rng)))
    for n in range(V6_PREFIXES):
        found.append((_v6(n), _site(rng)))
    return found


def _v6(n: int) -> str:
    return f"2001:{0xDB8 + n // 65536:x}:{n % 65536:x}::/48"


def _site(rng: random.Random) -> str:
    return f"site-{rng.randrange(SITES):04d}"


def client_ips(rng: random.Random, count: int) -> list[str]:
    ips = []
    for _ in range(count):
        if rng.random() < 0.8:
            n = rng.randrange(V4_PREFIXES)
            ips.append(f"{10 + n // 65536}.{(n // 256) % 256}.{n % 256}.{rng.randrange(1, 255)}")
        else:
            n = rng.randrange(V6_PREFIXES)
            ips.append(f"2001:{0xDB8 + n // 65536:x}:{n % 65536:x}::{rng.randrange(1, 65535):x}")
    return ips


def peak_rss_mb(kind: str, path: Path) -> float:
    """A fresh interpreter's peak resident size after loading `kind` from `path`."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return int(done.stdout.strip()) / 1024


def lookups_per_s(lookup: object, addresses: list[str]) -> float:
    started = time.perf_counter()
    for address in addresses:
        lookup(address)  # type: ignore[operator]
    return len(addresses) / (time.perf_counter() - started)


def main() -> int:
    prefixes = entries(random.Random(3))
    started = time.perf_counter()
    trie = PrefixIndex(prefixes)
    trie_build_s = time.perf_counter() - started

    started = time.perf_counter()
    built = PrefixTable.build(prefixes)
    data = built.to_bytes()
    job_build_s = time.perf_counter() - started

    started = time.perf_counter()
    table = PrefixTable.from_bytes(data)
    load_s = time.perf_counter() - started

    addresses = client_ips(random.Random(9), LOOKUPS)
    agree = all(table.site_for(a) == trie.site_for(a) for a in addresses)
    table_rate = lookups_per_s(table.site_for, addresses)
    trie_rate = lookups_per_s(trie.site_for, addresses)

    with tempfile.TemporaryDirectory() as scratch:
        table_file = Path(scratch) / "table.bin"
        table_file.write_bytes(data)
        entries_file = Path(scratch) / "entries.json"
        entries_file.write_text(json.dumps(prefixes))
        baseline_rss = peak_rss_mb("none", table_file)
        table_rss = peak_rss_mb("table", table_file) - baseline_rss
        trie_rss = peak_rss_mb("trie", entries_file) - baseline_rss

    print(
        f"prefixes: {len(table)} in {table.range_count} ranges; load {load_s:.3f} s vs trie "
        f"{trie_build_s:.2f} s; {table_rate:,.0f} vs {trie_rate:,.0f} lookups/s",
        file=sys.stderr,
    )
    result = make_result(
        name="prefixes",
        metric="cold load of 1,000,000 client prefixes (flattened table vs radix trie build)",
        value=load_s,
        unit="s",
        baseline=trie_build_s,
        target=LOAD_TARGET,
        direction="lower",
        prefixes=len(table),
        ranges=table.range_count,
        job_build_s=round(job_build_s, 2),
        table_bytes=len(data),
        table_gzip_bytes=len(gzip.compress(data, 6)),
        table_rss_mb=round(table_rss, 1),
        trie_rss_mb=round(trie_rss, 1),
        table_lookups_per_s=round(table_rate),
        trie_lookups_per_s=round(trie_rate),
        lookup_ratio=round(table_rate / trie_rate, 3),
        agree_on_every_address=agree,
    )
    result.ok = result.ok and agree and table_rate >= LOOKUP_FLOOR * trie_rate
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
