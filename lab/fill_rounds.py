"""The lab's fill rounds: round one fills from the origin, round two from round one's holders.

A round starts only when the fleet provably knows what the previous round holds: the stored
heartbeat of each filled appliance was sent after its fill's last status write (same manifest
version, no key missing, fill not running, same finish time). A heartbeat sent while the fill
ran carries the new manifest version with every key missing, and a manifest job that ran on it
would name no peer. Round two's manifests must then name a peer before the fill runs: the job
is run again until they do. What each round saw is kept in `<state dir>/fill-rounds.json`, so a
fill that took nothing from its peer says which manifest, which sources and what the peer held.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.health import HealthRecord
from control_plane.fleet.store import FleetStore
from control_plane.manifests.store import ManifestStore
from edgefill_contracts.manifest import decode_manifest
from lab import appliances
from lab.control_plane import run_job
from lab.errors import LabError
from lab.plan import LabAppliance, LabPlan
from lab.waiting import wait_until

logger = logging.getLogger(__name__)

MANIFEST_JOB = "fleet-manifests"
TRACE_FILE = "fill-rounds.json"
KNOWN_TIMEOUT_S = 180.0
PEER_MANIFEST_TIMEOUT_S = 90.0


class HeldView(BaseModel):
    """What the fleet's stored heartbeat says an appliance holds (or why it says nothing)."""

    model_config = ConfigDict(extra="forbid")

    appliance_id: str
    healthy: bool = False
    reason: str = ""
    heartbeat_sent_at: datetime | None = None
    manifest_version: str | None = None
    objects_held: int = 0
    missing_keys: int = 0
    missing_truncated: bool = False
    fill_running: bool = False
    fill_last_result: str = "never"
    fill_last_finished_at: datetime | None = None


class MemberTrace(BaseModel):
    """One appliance's fill in one round: the manifest it got, its sources, what it fetched."""

    model_config = ConfigDict(extra="forbid")

    appliance_id: str
    manifest_version: str | None = None
    objects: int = 0
    objects_with_peer_source: int = 0
    source_hosts: list[str] = Field(default_factory=list)
    peers_when_filled: list[HeldView] = Field(default_factory=list)
    fill_output: str = ""
    fill_warnings: list[str] = Field(default_factory=list)


class RoundTrace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int
    jobs_run: int = 0
    members: list[MemberTrace] = Field(default_factory=list)


class FillTrace(BaseModel):
    """Every round of one bring-up, saved as it goes."""

    model_config = ConfigDict(extra="forbid")

    rounds: list[RoundTrace] = Field(default_factory=list)

    def save(self, state_dir: Path) -> None:
        path = state_dir / TRACE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, path)

    @classmethod
    def load(cls, state_dir: Path) -> FillTrace | None:
        path = state_dir / TRACE_FILE
        return cls.model_validate_json(path.read_text()) if path.exists() else None

    def member(self, appliance_id: str) -> MemberTrace | None:
        found = [m for r in self.rounds for m in r.members if m.appliance_id == appliance_id]
        return found[-1] if found else None


def held_view(record: HealthRecord | None, appliance_id: str) -> HeldView:
    if record is None:
        return HeldView(appliance_id=appliance_id, reason="no health record")
    view = HeldView(appliance_id=appliance_id, healthy=record.healthy, reason=record.reason)
    beat = record.last_heartbeat
    if beat is None:
        return view
    return view.model_copy(
        update={
            "heartbeat_sent_at": beat.sent_at,
            "manifest_version": beat.held.manifest_version,
            "objects_held": beat.held.object_count,
            "missing_keys": len(beat.held.missing_keys),
            "missing_truncated": beat.held.missing_truncated,
            "fill_running": beat.fill.running,
            "fill_last_result": beat.fill.last_result,
            "fill_last_finished_at": beat.fill.last_finished_at,
        }
    )


def fleet_view(store: FleetStore, appliance_id: str) -> HeldView:
    found = store.health.get({"appliance_id": appliance_id})
    return held_view(found.doc if found else None, appliance_id)


def fill_is_known(view: HeldView, status: dict[str, Any]) -> bool:
    """The fleet's last heartbeat was sent after the agent's fill finished whole."""
    fill = status.get("fill", {})
    if fill.get("last_result") != "ok" or status.get("missing_count"):
        return False
    finished = fill.get("last_finished_at")
    return (
        view.healthy
        and view.manifest_version is not None
        and view.manifest_version == status.get("manifest_version")
        and view.missing_keys == 0
        and not view.missing_truncated
        and not view.fill_running
        and view.fill_last_result == "ok"
        and finished is not None
        and view.fill_last_finished_at == datetime.fromisoformat(finished)
    )


def manifest_sources(
    manifests: ManifestStore, appliance_id: str, peer_hosts: set[str]
) -> MemberTrace:
    """The appliance's latest manifest: its version and which of its objects name a peer."""
    trace = MemberTrace(appliance_id=appliance_id)
    pointer = manifests.latest(appliance_id)
    body = None if pointer is None else manifests.body(appliance_id, pointer.version)
    if pointer is None or body is None:
        return trace
    manifest = decode_manifest(body)
    table = manifest.header.sources
    used = {i for entry in manifest.entries() for i in entry.sources}
    hosts = {
        urlsplit(str(table[i].base_url)).hostname or "" if table[i].base_url else table[i].name
        for i in used
    }
    peer_indices = {
        i
        for i, s in enumerate(table)
        if s.base_url and urlsplit(str(s.base_url)).hostname in peer_hosts
    }
    with_peer = sum(1 for entry in manifest.entries() if peer_indices.intersection(entry.sources))
    return trace.model_copy(
        update={
            "manifest_version": pointer.version,
            "objects": manifest.header.file_count,
            "objects_with_peer_source": with_peer,
            # Hosts only: a source URL carries a signature, which stays out of files and logs.
            "source_hosts": sorted(hosts),
        }
    )


def _cluster_peers(plan: LabPlan, member: LabAppliance, filled: set[str]) -> list[LabAppliance]:
    return [
        a
        for _s, a in plan.all_appliances()
        if a.cluster_id == member.cluster_id and a.appliance_id in filled
    ]


def fill_rounds(
    plan: LabPlan,
    settings: ServiceSettings,
    console: Console,
    state_dir: Path,
    *,
    step: Callable[[str], Any],
) -> FillTrace:
    """Round one fills from the origin; round two's manifests rank round one's holders first."""
    console.print(
        "   [yellow]the demo forces the fill window open: `appliance-agent fill --now`[/yellow]"
    )
    store = FleetStore.from_settings(settings)
    manifests = ManifestStore(settings=settings)
    trace = FillTrace()
    filled: set[str] = set()
    rounds = ((1, appliances.first_round(plan)), (2, appliances.second_round(plan)))
    for number, members in rounds:
        if not members:
            continue
        current = RoundTrace(number=number)
        trace.rounds.append(current)
        with step(f"fill round {number}: manifests, then {[a.appliance_id for a in members]}"):
            run_job(MANIFEST_JOB, settings)
            current.jobs_run = 1
            for member in members:
                peers = _cluster_peers(plan, member, filled)
                peer_hosts = {plan.appliance_ip(p) for p in peers}
                member_trace = manifest_sources(manifests, member.appliance_id, peer_hosts)
                if peers:
                    member_trace = _wait_for_peer_manifest(
                        settings, manifests, current, member, peers, peer_hosts, store
                    )
                member_trace.peers_when_filled = [fleet_view(store, p.appliance_id) for p in peers]
                current.members.append(member_trace)
                trace.save(state_dir)
                completed = appliances.agent_run(member.appliance_id, "fill", "--now")
                member_trace.fill_output = completed.stdout.strip()[-2000:]
                member_trace.fill_warnings = [
                    line for line in completed.stderr.splitlines() if "failed" in line
                ][-20:]
                trace.save(state_dir)
            # The control plane learns what they hold from their next heartbeats; the next
            # round's manifests rank them as peers only once it knows.
            for member in members:
                wait_until(
                    lambda m=member: fill_is_known(  # type: ignore[misc]
                        fleet_view(store, m.appliance_id), appliances.agent_status(m.appliance_id)
                    ),
                    timeout=KNOWN_TIMEOUT_S,
                    what=f"a heartbeat telling the fleet {member.appliance_id}'s fill finished "
                    f"whole (the fleet has: {fleet_view(store, member.appliance_id)})",
                )
                filled.add(member.appliance_id)
    return trace


def _wait_for_peer_manifest(
    settings: ServiceSettings,
    manifests: ManifestStore,
    current: RoundTrace,
    member: LabAppliance,
    peers: list[LabAppliance],
    peer_hosts: set[str],
    store: FleetStore,
) -> MemberTrace:
    """Run the manifest job until `member`'s manifest names a peer; LabError saying why not."""
    deadline = time.monotonic() + PEER_MANIFEST_TIMEOUT_S
    while True:
        found = manifest_sources(manifests, member.appliance_id, peer_hosts)
        if found.objects_with_peer_source > 0:
            return found
        if time.monotonic() > deadline:
            views = [fleet_view(store, p.appliance_id).model_dump_json() for p in peers]
            raise LabError(
                f"{member.appliance_id}'s manifest {found.manifest_version} names no peer among "
                f"{sorted(peer_hosts)} after {current.jobs_run} manifest jobs "
                f"({found.objects} objects, source hosts {found.source_hosts}); what the fleet "
                f"knows of the peers: {'; '.join(views)}"
            )
        time.sleep(2.0)
        run_job(MANIFEST_JOB, settings)
        current.jobs_run += 1
