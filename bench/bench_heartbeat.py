"""Benchmark `heartbeat`: what one heartbeat costs the control plane, and the fleet's bill for it.

The real fleet app (in this process, through Starlette's test client) against a moto server
in its own process. 200 appliances of one site register, then send rounds of heartbeats 15 s
apart on the app's clock, each reporting what a whole-catalog appliance does mid-fill: a manifest
of 120,000 units held but for 2 % (a 4 KB held-units bitmap, and the 16-key sample of the
missing files agents send beside it; the health record's size with the 1,000 keys agents
sent before is reported for comparison). Every AWS call the app makes is
counted by service and operation (a botocore hook on the default session), and the health
record's size is read back to price its read and write in DynamoDB's capacity units.

Metric: AWS calls per heartbeat against the budget of four (the credential and appliance
reads of authentication, the health record's read and conditional write). A heartbeat that
reads S3 or scans a table (beyond the signing-secret set, re-read once a minute per
container) fails the benchmark outright. Details: the rate this process
sustains against moto (a floor: moto and the app share 2 cores), calls by operation, and the
projection to 10,000 appliances every 15 s: requests, capacity units and DynamoDB on-demand
cost per month.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections import Counter
from typing import Any

import boto3

from bench.local_servers import moto_server
from bench.result import emit, make_result

APPLIANCES = 200
ROUNDS = 5
INTERVAL_S = 15.0
FLEET = 10_000
BUDGET_CALLS = 4.0
UNITS = 120_000
HELD_FRACTION = 0.98
SECONDS_PER_MONTH = 30 * 24 * 3600
# DynamoDB on-demand, us-east-1 list prices (USD per million request units, from Nov. 2024).
USD_PER_MILLION_READS = 0.125
USD_PER_MILLION_WRITES = 0.625
# The signing-secret set is re-read (a Scan of a table of at most a few items) once a minute
# per container (CachedActiveSecrets); any other scan, query or S3 read fails the benchmark.
SECRET_SET_TTL_S = 60.0


class CallCounter:
    """Counts AWS calls by (service, operation), and DynamoDB capacity units by item size."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.read_units = 0.0
        self.write_units = 0.0
        self.counting = False

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.counting:
            return
        service = model.service_model.service_name
        self.calls[(service, model.name)] += 1
        if service == "dynamodb" and model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            body = params.get("body") or b"{}"
            item = json.loads(body).get("Item", {})
            self.write_units += max(1, math.ceil(item_bytes(item) / 1024))

    def after_call(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if not self.counting or model.service_model.service_name != "dynamodb":
            return
        if model.name == "GetItem":
            size = item_bytes(parsed.get("Item", {}))
            # Every fleet read is strongly consistent: one unit per 4 KB (eventual: half).
            self.read_units += max(1, math.ceil(size / 4096))


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item in wire form (names plus values), as its pricing counts it."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if not isinstance(value, dict) or len(value) != 1:
        return len(json.dumps(value))
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner)) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + item_bytes(inner)
    if kind == "L":
        return 3 + sum(_value_bytes(v) + 1 for v in inner)
    return len(json.dumps(inner))


def main() -> int:
    with moto_server() as moto_url:
        return _run(moto_url)


def _run(moto_url: str) -> int:
    from edgefill_contracts.heartbeat import (
        MAX_REPORTED_MISSING_KEYS,
        MAX_SAMPLED_MISSING_KEYS,
        HeldDigest,
    )
    from edgefill_contracts.holdings import encode_held_units
    from tests.integration.fleet.support import make_harness, make_heartbeat
    from tests.support.aws import MotoServer, provision_test_stack

    counter = CallCounter()
    boto3.setup_default_session()
    events = boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    events.register("before-call.*.*", counter.before_call)
    events.register("after-call.*.*", counter.after_call)

    settings = provision_test_stack(MotoServer(endpoint_url=moto_url))
    fleet = make_harness(settings)
    fleet.put_site("ams-1", prefixes=["198.51.100.0/24"])
    fleet.put_cluster("ams-1-c1", "ams-1")
    auths = {}
    for n in range(APPLIANCES):
        appliance_id = f"ams-1-a{n:03d}"
        fleet.put_appliance(appliance_id, site_id="ams-1", cluster_id="ams-1-c1", budget=10**15)
        auths[appliance_id] = fleet.register(appliance_id)
    order = [f"u{n:06d}" for n in range(UNITS)]
    rng = random.Random(17)
    held_set = {u for u in order if rng.random() < HELD_FRACTION}
    missing = [f"title-{n:05d}/720p/media.mp4" for n in range(UNITS - len(held_set))]
    # What the agent sends mid-fill: the bitmap and a sample of the missing keys.
    held = HeldDigest(
        manifest_version="m" + "0" * 32,
        held_units=encode_held_units(order, held_set),
        missing_keys=missing[:MAX_SAMPLED_MISSING_KEYS],
        missing_truncated=True,
    )
    fleet.heartbeat(next(iter(auths)), auths[next(iter(auths))], held=held)  # warm the app

    counter.counting = True
    started = time.perf_counter()
    for _ in range(ROUNDS):
        fleet.clock.advance(INTERVAL_S)
        for appliance_id, auth in auths.items():
            response = fleet.client.post(
                f"/fleet/v1/appliances/{appliance_id}/heartbeat",
                content=make_heartbeat(
                    appliance_id, sent_at=fleet.clock.now, held=held
                ).model_dump_json(),
                headers={**auth, "Content-Type": "application/json"},
            )
            if response.status_code != 200:
                raise SystemExit(f"heartbeat: {response.status_code} {response.text[:200]}")
    elapsed = time.perf_counter() - started
    counter.counting = False

    beats = APPLIANCES * ROUNDS
    by_call = {f"{s}:{op}": round(n / beats, 3) for (s, op), n in sorted(counter.calls.items())}
    secret_set_reads = math.ceil(ROUNDS * INTERVAL_S / SECRET_SET_TTL_S)
    forbidden = {
        k: v
        for k, v in counter.calls.items()
        if k[0] == "s3"
        or k == ("dynamodb", "Query")
        or (k == ("dynamodb", "Scan") and v > secret_set_reads)
    }
    if forbidden:
        raise SystemExit(f"heartbeat: heartbeats scanned, queried or read S3: {forbidden}")
    # Budgeted: the calls every heartbeat makes; the secret set's minute re-read is reported.
    calls = (sum(counter.calls.values()) - counter.calls[("dynamodb", "Scan")]) / beats
    reads = counter.read_units / beats
    writes = counter.write_units / beats
    rate = FLEET / INTERVAL_S
    dynamodb = boto3.client("dynamodb", region_name=settings.aws_region, endpoint_url=moto_url)
    table = settings.table_name("fleet-health")
    health_item = dynamodb.get_item(TableName=table, Key={"appliance_id": {"S": "ams-1-a000"}})[
        "Item"
    ]
    # For comparison: the same heartbeat with the 1,000 missing keys agents sent before.
    listed = held.model_copy(update={"missing_keys": missing[:MAX_REPORTED_MISSING_KEYS]})
    fleet.clock.advance(INTERVAL_S)
    fleet.heartbeat("ams-1-a001", auths["ams-1-a001"], held=listed)
    listed_item = dynamodb.get_item(TableName=table, Key={"appliance_id": {"S": "ams-1-a001"}})[
        "Item"
    ]
    monthly_reads = rate * reads * SECONDS_PER_MONTH
    monthly_writes = rate * writes * SECONDS_PER_MONTH
    print(
        f"heartbeat: {beats} in {elapsed:.1f} s ({beats / elapsed:.0f}/s), {calls:.2f} calls, "
        f"{reads:.1f} RCU and {writes:.1f} WCU each; {by_call}",
        file=sys.stderr,
    )
    emit(
        make_result(
            name="heartbeat",
            metric="AWS calls per heartbeat (besides the secret set's once-a-minute read)",
            value=calls,
            unit="calls",
            baseline=BUDGET_CALLS,
            target=1.0,
            direction="lower",
            heartbeats=beats,
            appliances=APPLIANCES,
            sustained_per_s_one_process_against_moto=round(beats / elapsed, 1),
            calls_per_heartbeat=by_call,
            secret_set_scans=counter.calls[("dynamodb", "Scan")],
            secret_set_scans_allowed=secret_set_reads,
            health_item_bytes=item_bytes(health_item),
            health_item_bytes_with_1000_missing_keys=item_bytes(listed_item),
            held_units_chars=len(held.held_units or ""),
            read_units_per_heartbeat=round(reads, 2),
            write_units_per_heartbeat=round(writes, 2),
            fleet_projection={
                "appliances": FLEET,
                "interval_s": INTERVAL_S,
                "heartbeats_per_s": round(rate, 1),
                "dynamodb_reads_per_s": round(rate * reads, 1),
                "dynamodb_writes_per_s": round(rate * writes, 1),
                "dynamodb_on_demand_usd_per_month": round(
                    monthly_reads / 1e6 * USD_PER_MILLION_READS
                    + monthly_writes / 1e6 * USD_PER_MILLION_WRITES
                ),
                "requests_per_month": round(rate * SECONDS_PER_MONTH),
            },
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
