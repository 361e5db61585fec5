"""Benchmark `fill`: the agent's end-to-end fill throughput against `curl --parallel` + `sha256sum`.

Both fetch the same 2-8 MiB objects from one local nginx origin into a fresh directory. The
agent hashes while it streams, fsyncs and publishes atomically; the baseline downloads first
and hashes afterwards. The ratio is agent MB/s over baseline MB/s (target >= 1.0). A second
agent run with a configured rate limit must hold that rate within 5%. CPU seconds per GiB are
reported for both. Data lives in a temp dir outside the repo and is deleted afterwards.

Environment: EDGEFILL_BENCH_FILL_MIB (default 2048) sizes the data set; EDGEFILL_BENCH_FILL_ROUNDS
(default 3) runs each side that many times, alternating, and keeps each side's best.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.result import emit, make_result
from lab.static_nginx import StaticNginx, static_nginx

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
GIB = 1 << 30
APPLIANCE_ID = "bench-1"
CONCURRENCY = 8
RATE_LIMIT = 60_000_000  # bytes/s for the rate-limit check
RATE_CHECK_BYTES = 600 * MIB
RATE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    nbytes: int

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / self.seconds / 1e6

    @property
    def cpu_s_per_gib(self) -> float:
        return self.cpu_seconds / (self.nbytes / GIB)


def make_objects(root: Path, total: int, seed: int = 7) -> list[tuple[str, int, str]]:
    """Random 2-8 MiB files under root; returns (key, size, sha256)."""
    rng = random.Random(seed)
    objects: list[tuple[str, int, str]] = []
    made = 0
    n = 0
    while made < total:
        size = min(rng.randint(2 * MIB, 8 * MIB), max(total - made, 2 * MIB))
        key = f"title-{n // 50:03d}/r1/seg-{n:05d}.bin"
        data = rng.randbytes(size)
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        objects.append((key, size, hashlib.sha256(data).hexdigest()))
        made += size
        n += 1
    return objects


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_baseline(origin: StaticNginx, objects: list[tuple[str, int, str]], work: Path) -> Run:
    target = work / "curl"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    config = work / "curl.cfg"
    config.write_text(
        "".join(f'url = "{origin.url(key)}"\noutput = "{target / key}"\n' for key, _, _ in objects)
    )
    os.sync()  # start with no writeback pending from an earlier run
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run(
        [
            "curl",
            "--parallel",
            "--parallel-max",
            str(CONCURRENCY),
            "--create-dirs",
            "-sS",
            "--no-progress-meter",
            "--fail",
            "-K",
            str(config),
        ],
        check=True,
    )
    sums = subprocess.run(
        ["sha256sum", *[str(target / key) for key, _, _ in objects]],
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    cpu = children_cpu() - cpu
    got = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in sums.stdout.splitlines()}
    for key, _, digest in objects:
        if got[str(target / key)] != digest:
            raise RuntimeError(f"baseline fetched wrong bytes for {key}")
    shutil.rmtree(target)
    return Run(seconds=elapsed, cpu_seconds=cpu, nbytes=sum(size for _, size, _ in objects))


def write_manifest(
    origin_root: Path, origin: StaticNginx, objects: list[tuple[str, int, str]]
) -> None:
    """Served by the same nginx at the fleet API's manifest path (nginx ignores the credential)."""
    manifest = {
        "schema_version": 1,
        "appliance_id": APPLIANCE_ID,
        "version": f"bench-{len(objects)}",
        "generated_at": datetime.now(UTC).isoformat(),
        "fill_window": {"start": "02:00:00", "end": "14:00:00", "timezone": "UTC"},
        "byte_budget": 1 << 42,
        "objects": [
            {"key": key, "size": size, "sha256": digest, "sources": [origin.url(key)]}
            for key, size, digest in objects
        ],
    }
    path = origin_root / "fleet" / "v1" / "appliances" / APPLIANCE_ID / "manifest"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest))


def run_agent(
    origin: StaticNginx, work: Path, *, max_fill_rate: int, nbytes: int
) -> tuple[Run, float]:
    """One `appliance-agent fill --now` in a fresh store; returns the run and the agent's own
    download-phase rate (bytes/s) as it reports it."""
    agent = work / "agent"
    shutil.rmtree(agent, ignore_errors=True)
    agent.mkdir()
    credential = agent / "credential.json"
    credential.write_text(
        json.dumps({"appliance_id": APPLIANCE_ID, "credential_id": "c1", "secret": "bench-secret"})
    )
    credential.chmod(0o600)
    config = agent / "agent.toml"
    config.write_text(
        "\n".join(
            [
                f'control_plane_url = "{origin.base_url}"',
                f'appliance_id = "{APPLIANCE_ID}"',
                f'credential_file = "{credential}"',
                f'store_path = "{agent / "store"}"',
                f'state_dir = "{agent / "state"}"',
                f"byte_budget = {1 << 42}",
                "free_space_floor = 0",
                f"max_fill_rate = {max_fill_rate}",
                f"concurrency = {CONCURRENCY}",
            ]
        )
        + "\n"
    )
    os.sync()  # start with no writeback pending from an earlier run
    cpu = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "appliance_agent.cli", "--config", str(config), "fill", "--now"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    cpu = children_cpu() - cpu
    if proc.returncode != 0 or "fill ok" not in proc.stdout:
        raise RuntimeError(
            f"agent fill failed ({proc.returncode}): {proc.stdout}\n{proc.stderr[-2000:]}"
        )
    match = re.search(r"in ([0-9.]+) s", proc.stdout)
    if match is None:
        raise RuntimeError(f"agent did not report its fill duration: {proc.stdout}")
    shutil.rmtree(agent)
    return Run(seconds=elapsed, cpu_seconds=cpu, nbytes=nbytes), nbytes / float(match[1])


def main() -> None:
    total = int(os.environ.get("EDGEFILL_BENCH_FILL_MIB", "2048")) * MIB
    rounds = int(os.environ.get("EDGEFILL_BENCH_FILL_ROUNDS", "3"))
    work = Path(tempfile.mkdtemp(prefix="edgefill-bench-fill-"))
    try:
        origin_root = work / "origin"
        origin_root.mkdir()
        objects = make_objects(origin_root, total)
        nbytes = sum(size for _, size, _ in objects)
        with static_nginx(origin_root, work / "nginx", workers=2) as origin:
            write_manifest(origin_root, origin, objects)
            baselines: list[Run] = []
            agents: list[Run] = []
            for _ in range(rounds):
                baselines.append(run_baseline(origin, objects, work))
                agents.append(run_agent(origin, work, max_fill_rate=0, nbytes=nbytes)[0])
                print(
                    f"round: baseline {baselines[-1].mb_per_s:.1f} MB/s, agent {agents[-1].mb_per_s:.1f} MB/s",
                    file=sys.stderr,
                )
            subset: list[tuple[str, int, str]] = []
            for obj in objects:
                if sum(size for _, size, _ in subset) >= RATE_CHECK_BYTES:
                    break
                subset.append(obj)
            write_manifest(origin_root, origin, subset)
            subset_bytes = sum(size for _, size, _ in subset)
            _, limited_rate = run_agent(origin, work, max_fill_rate=RATE_LIMIT, nbytes=subset_bytes)
        best_agent = max(agents, key=lambda run: run.mb_per_s)
        best_baseline = max(baselines, key=lambda run: run.mb_per_s)
        rate_error = limited_rate / RATE_LIMIT - 1
        result = make_result(
            name="fill",
            metric="end-to-end fill throughput, agent / (curl --parallel + sha256sum)",
            value=best_agent.mb_per_s,
            unit="MB/s",
            baseline=best_baseline.mb_per_s,
            target=1.0,
            data_bytes=nbytes,
            objects=len(objects),
            object_sizes="2-8 MiB",
            concurrency=CONCURRENCY,
            rounds=rounds,
            agent_mb_per_s_all=[round(r.mb_per_s, 1) for r in agents],
            baseline_mb_per_s_all=[round(r.mb_per_s, 1) for r in baselines],
            agent_cpu_s_per_gib=round(best_agent.cpu_s_per_gib, 3),
            baseline_cpu_s_per_gib=round(best_baseline.cpu_s_per_gib, 3),
            rate_limit_bytes_per_s=RATE_LIMIT,
            rate_limited_measured_bytes_per_s=round(limited_rate),
            rate_limit_error=round(rate_error, 4),
            rate_limit_ok=abs(rate_error) <= RATE_TOLERANCE,
            rate_check_bytes=subset_bytes,
        )
        emit(result.model_copy(update={"ok": result.ok and abs(rate_error) <= RATE_TOLERANCE}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
