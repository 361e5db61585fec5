"""Benchmark `manifest`: one appliance's manifest at production size, in bytes and on the appliance.

The manifest of an appliance that holds the whole catalog: 20,000 titles x 7 units (an audio
rendition and six video ones), each unit one media file and its playlist (the single-file
packaging of the `scale` issue): 280,000 files. Every unit ranks up to six peer appliances
(three of its cluster, three of its ISP's other clusters) before the origin; the source table
has 60 appliances, and every title carries tokens for two secrets (a rotation in progress),
the worst case for size.

Measured: the gzip'd JSON Lines body (`edgefill_contracts.manifest`) as the job writes
it to S3, and decoding it as the agent does, in a fresh interpreter so its peak RSS is the
decoder's (from reading the gzip file to the validated manifest). For comparison, schema 1's
size for the same files (one entry with its own URL list per file) is extrapolated from 1,000
entries.

Budgets (the `scale` issue): under 20 MB compressed, decoded in under 2 s and 300 MB RSS. The
metric is the largest fraction of its budget any of the three uses: at most 1 is ok.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.process_memory import peak_rss_bytes
from bench.result import emit, make_result
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.manifest import (
    ManifestSource,
    ManifestTitle,
    ManifestUnit,
    decode_manifest,
    encode_manifest,
    manifest_header,
)
from edgefill_contracts.signing import compute_token

TITLES = 20_000
RENDITIONS = ("audio", "240p", "360p", "480p", "720p", "1080p", "2160p")
APPLIANCES = 60
SECRETS = ("k2", "k1")
EXPIRES = 1_900_000_000
BUDGET_BYTES = 20_000_000
BUDGET_PARSE_S = 2.0
BUDGET_RSS_BYTES = 300 * 1024 * 1024
# A presigned S3 URL with a session token, as schema 1 carried once per file and source.
_PRESIGNED_URL_CHARS = 1_500


def build(rng: random.Random) -> tuple[bytes, int]:
    """The encoded manifest and its file count."""
    sources = [
        ManifestSource(
            name=f"isp1-c{i // 20}-a{i:03d}",
            kind="appliance",
            base_url=f"https://a{i:03d}.c{i // 20}.isp1.example:8443/",
            secret_id=SECRETS[i % 2],
        )
        for i in range(APPLIANCES)
    ] + [ManifestSource(name="origin", kind="origin")]
    origin = len(sources) - 1
    titles = []
    priority = TITLES * len(RENDITIONS)
    for t in range(TITLES):
        name = f"title-{t:05d}"
        units = []
        for rendition in RENDITIONS:
            peers = rng.sample(range(APPLIANCES), rng.randint(0, 6))
            media = rng.randint(50_000_000, 4_000_000_000)
            units.append(
                ManifestUnit(
                    rendition=rendition,
                    priority=priority,
                    sources=(*peers, origin),
                    files=(
                        ("index.m3u8", rng.randint(2_000, 80_000), rng.randbytes(32).hex()),
                        ("media.mp4", media, rng.randbytes(32).hex()),
                    ),
                )
            )
            priority -= 1
        tokens = {s: compute_token(secret=s * 8, scope=name, expires=EXPIRES) for s in SECRETS}
        titles.append(ManifestTitle(title=name, tokens=tokens, units=tuple(units)))
    header = manifest_header(
        appliance_id="isp1-c0-a000",
        version="m" + "0" * 32,
        generated_at=datetime.now(UTC),
        fill_window=FillWindow(),
        byte_budget=1 << 60,
        sources_expire_at=EXPIRES,
        sources=sources,
        titles=titles,
    )
    return encode_manifest(header, titles), header.file_count


def schema1_bytes_estimate(files: int, rng: random.Random) -> int:
    """Schema 1's JSON for `files` entries, extrapolated from 1,000 entries of the same shape."""
    sample = [
        {
            "key": f"title-{i:05d}/720p/media.mp4",
            "size": rng.randint(50_000_000, 4_000_000_000),
            "sha256": rng.randbytes(32).hex(),
            "priority": i,
            "sources": [
                f"https://a{p:03d}.isp1.example:8443/t/k2/{'x' * 22}/{EXPIRES}/title-{i:05d}/"
                "720p/media.mp4"
                for p in range(3)
            ]
            + ["https://origin.example/" + "q" * _PRESIGNED_URL_CHARS],
        }
        for i in range(1_000)
    ]
    return len(json.dumps(sample)) * files // 1_000


def parse_in_child(path: Path) -> dict[str, float]:
    """Decode `path` in a fresh interpreter; its decode time and peak RSS."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_manifest", "--decode", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def decode_here(path: Path) -> int:
    import_rss = peak_rss_bytes()
    started = time.perf_counter()
    with path.open("rb") as body:
        manifest = decode_manifest(body)
    decode_s = time.perf_counter() - started
    files = sum(1 for _ in manifest.entries())
    print(
        json.dumps(
            {
                "decode_s": round(decode_s, 3),
                "peak_rss_bytes": peak_rss_bytes(),
                "rss_before_bytes": import_rss,
                "files": files,
            }
        )
    )
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--decode":
        return decode_here(Path(sys.argv[2]))
    rng = random.Random(14)
    started = time.perf_counter()
    body, files = build(rng)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.jsonl.gz"
        path.write_bytes(body)
        decoded = parse_in_child(path)
    if decoded["files"] != files:
        raise SystemExit(f"manifest: decoded {decoded['files']} files of {files}")
    fractions = {
        "compressed": len(body) / BUDGET_BYTES,
        "decode_time": decoded["decode_s"] / BUDGET_PARSE_S,
        "decode_rss": decoded["peak_rss_bytes"] / BUDGET_RSS_BYTES,
    }
    print(f"manifest: {len(body)} bytes, {decoded}, budget use {fractions}", file=sys.stderr)
    emit(
        make_result(
            name="manifest",
            metric="largest fraction of a budget used (bytes, decode time, decode RSS)",
            value=max(fractions.values()),
            unit="fraction of budget",
            baseline=1.0,
            target=1.0,
            direction="lower",
            titles=TITLES,
            units=TITLES * len(RENDITIONS),
            files=files,
            compressed_bytes=len(body),
            decompressed_bytes=len(gzip.decompress(body)),
            decode_s=decoded["decode_s"],
            decode_peak_rss_mib=round(decoded["peak_rss_bytes"] / 2**20, 1),
            interpreter_rss_mib=round(decoded["rss_before_bytes"] / 2**20, 1),
            build_and_encode_s=round(build_s, 2),
            schema1_json_bytes_estimate=schema1_bytes_estimate(files, rng),
            budget_fractions={k: round(v, 3) for k, v in fractions.items()},
            budgets={"compressed_bytes": BUDGET_BYTES, "decode_s": BUDGET_PARSE_S, "rss_mib": 300},
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
