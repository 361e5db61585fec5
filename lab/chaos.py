"""`make demo-chaos`: four faults on the running lab, each checked against what must happen.

1. an appliance stops mid-playback: the player moves to the next URL, the play succeeds;
2. an appliance is drained mid-session: that session finishes there, new sessions go elsewhere;
3. the control plane is killed: appliances keep serving what they hold, say they are cut off,
   delete nothing, and reconnect when it is back;
4. a file in a store is corrupted: `appliance-agent verify` quarantines it, the next fill
   fetches it again and it matches its manifest hash.

Each fault is undone before the next one starts, so the lab is whole again afterwards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from appliance_agent.health.heartbeat import HEARTBEAT_FAILED
from lab import appliances
from lab.bring_up import LabRuntime
from lab.chaos_report import FaultResult
from lab.client import ORIGIN, Viewer, play, play_decision, sign_up_viewer, start_playback
from lab.control_plane import FleetAdmin, start_gateway
from lab.errors import LabError
from lab.plan import LabPlan
from lab.processes import ProcessTable
from lab.waiting import wait_until

logger = logging.getLogger(__name__)

# The served tree under the agent role's default store (appliance_nginx_store_dir).
STORE_OBJECTS = "/srv/edgefill/store/objects"
CONTROL_PLANE = "control-plane"


@dataclass
class Chaos:
    """The running lab, and what the faults need to act on it and to watch it."""

    plan: LabPlan
    runtime: LabRuntime
    processes: ProcessTable
    admin: FleetAdmin
    content: httpx.Client

    def viewer(self, site_id: str) -> Viewer:
        """A new subscribed viewer calling from inside `site_id`'s prefixes."""
        client = next(c for c in self.plan.clients if c.expect_site == site_id)
        return sign_up_viewer(self.runtime.control_plane_url, client)

    def healthy(self, appliance_id: str) -> bool:
        return bool(self.admin.inventory().get(appliance_id, {}).get("healthy"))

    def wait_healthy(self, appliance_id: str, timeout: float = 120) -> None:
        wait_until(
            lambda: self.healthy(appliance_id),
            timeout=timeout,
            what=f"the fleet to see {appliance_id} healthy",
        )


def check_lab_is_up(plan: LabPlan, runtime: LabRuntime) -> None:
    """LabError unless the control plane answers and every appliance's container runs: faults
    on half a lab would report failures that are not the faults' doing."""
    missing = []
    if not _answers(runtime.control_plane_url):
        missing.append(f"the control plane ({runtime.control_plane_url}) does not answer")
    running = set(appliances.container_names(running_only=True))
    stopped = [
        a.appliance_id
        for _s, a in plan.all_appliances()
        if appliances.container_name(a.appliance_id) not in running
    ]
    if stopped:
        missing.append(f"appliances not running: {', '.join(stopped)}")
    if missing:
        raise LabError(
            f"the lab is not fully up ({'; '.join(missing)}): run `make demo` (it takes a "
            "half-up lab down first), then `make demo-chaos`"
        )


@contextmanager
def chaos_on(plan: LabPlan, runtime: LabRuntime, state_dir: Path) -> Iterator[Chaos]:
    """A Chaos over the lab whose state is in `state_dir`, its clients closed afterwards."""
    # The appliances' certificates come from the fleet's own CA, which the lab client does not
    # install (a real player trusts it): content requests skip verification.
    with (
        httpx.Client(verify=False, timeout=30) as content,
        closing(FleetAdmin(runtime.control_plane_url, runtime.admin_token)) as admin,
    ):
        yield Chaos(
            plan=plan,
            runtime=runtime,
            processes=ProcessTable(state_dir),
            admin=admin,
            content=content,
        )


def first_title(viewer: Viewer) -> str:
    listing = viewer.api.get("/catalog/search", params={"q": ""})
    if listing.status_code >= 400 or not listing.json().get("results"):
        raise LabError(f"catalog listing: HTTP {listing.status_code}: {listing.text[:200]}")
    title_id: str = listing.json()["results"][0]["title_id"]
    return title_id


def _once_after_first_segment(
    action: Callable[[str], None], done: list[str]
) -> Callable[[int, str], None]:
    """A play hook: after the first segment (fetch 1; fetch 0 is the playlist), act once on
    the appliance that served it."""

    def hook(index: int, source: str) -> None:
        if index == 1 and source != ORIGIN and not done:
            action(source)
            done.append(source)

    return hook


def stop_mid_playback(chaos: Chaos) -> FaultResult:
    """Stop the appliance serving a play after its first segment; the play must still finish."""
    viewer = chaos.viewer("ams1")
    stopped: list[str] = []
    try:
        report = play(
            viewer,
            first_title(viewer),
            content=chaos.content,
            after_fetch=_once_after_first_segment(appliances.stop_host, stopped),
        )
    finally:
        viewer.api.close()
        for appliance_id in stopped:
            appliances.start_host(appliance_id)
    observed = [
        f"stopped {', '.join(stopped) or 'nothing'} (podman stop) after the first segment",
        f"the play {'succeeded' if report.ok else 'FAILED: ' + str(report.error)} after "
        f"{report.failovers} failover(s); bytes by source {report.bytes_by_source}",
    ]
    for appliance_id in stopped:
        chaos.wait_healthy(appliance_id)
        observed.append(f"{appliance_id} booted again and the fleet sees it healthy")
    served_after = set(report.bytes_by_source) - set(stopped)
    return FaultResult(
        fault="stop an appliance mid-playback",
        expected="the player moves to the next URL; no play fails",
        observed=observed,
        ok=bool(stopped) and report.ok and report.failovers >= 1 and bool(served_after),
    )


def drain_mid_session(chaos: Chaos) -> FaultResult:
    """Drain the appliance a session plays from: that session ends there, new ones avoid it."""
    viewer = chaos.viewer("ams1")
    drained: list[str] = []
    # Steering reads the snapshot job's next pass within playback's refresh interval.
    settings = chaos.runtime.settings()
    bound = settings.steering_snapshot_interval_s + settings.fleet_view_ttl_s + 15

    def steered_to() -> list[str | None]:
        return list(start_playback(viewer, title_id).steered)

    try:
        title_id = first_title(viewer)
        in_flight = play_decision(
            viewer,
            title_id,
            start_playback(viewer, title_id),
            content=chaos.content,
            after_fetch=_once_after_first_segment(
                lambda appliance_id: chaos.admin.drain(
                    appliance_id, reason="demo-chaos: drain mid-session"
                ),
                drained,
            ),
        )
        if not drained:
            raise LabError(f"the session was not served by an appliance: {in_flight}")
        target = drained[0]
        state = chaos.admin.appliance(target).get("state")
        started = time.monotonic()
        wait_until(
            lambda: target not in steered_to(),
            timeout=bound,
            what=f"steering to stop sending new sessions to {target}",
        )
        avoided_after = time.monotonic() - started
        while_drained = steered_to()
        chaos.admin.undrain(target, reason="demo-chaos: drain over")
        drained.clear()
        started = time.monotonic()
        wait_until(
            lambda: target in steered_to(),
            timeout=bound,
            what=f"steering to send new sessions to {target} again",
        )
        back_after = time.monotonic() - started
        after_undrain = steered_to()
    finally:
        for appliance_id in drained:
            chaos.admin.undrain(appliance_id, reason="demo-chaos: drain over (on error)")
        viewer.api.close()
    return FaultResult(
        fault=f"drain {target} mid-session",
        expected="the session in flight finishes there; new sessions are steered elsewhere",
        observed=[
            f"the in-flight play {'succeeded' if in_flight.ok else 'FAILED'}; bytes by source "
            f"{in_flight.bytes_by_source}",
            f"fleet state after the drain order: {state}",
            f"new sessions avoided it {avoided_after:.0f} s after the order (fleet view age "
            f"{bound - 15:.0f} s): steered to {_names(while_drained)}",
            f"after undrain, new sessions came back in {back_after:.0f} s: steered to "
            f"{_names(after_undrain)}",
        ],
        ok=in_flight.ok
        and set(in_flight.bytes_by_source) == {target}
        and target not in while_drained
        and target in after_undrain,
    )


def kill_control_plane(chaos: Chaos) -> FaultResult:
    """Kill the control plane; sessions already steered play on; appliances delete nothing."""
    covered = [site.site_id for site in chaos.plan.sites]
    viewers = [chaos.viewer(site_id) for site_id in covered]
    ids = [a.appliance_id for _s, a in chaos.plan.all_appliances()]
    try:
        sessions = []
        for viewer in viewers:
            title_id = first_title(viewer)
            sessions.append((viewer, title_id, start_playback(viewer, title_id)))
        held_before = {i: appliances.agent_status(i).get("objects_held") for i in ids}
        pid = chaos.processes.kill(CONTROL_PLANE)
        down = not _answers(chaos.runtime.control_plane_url)
        plays = [
            play_decision(v, title_id, decision, content=chaos.content)
            for v, title_id, decision in sessions
        ]
        wait_until(
            lambda: all(_cut_off(i) for i in ids),
            timeout=90,
            what="every agent to report that its heartbeats fail",
        )
        held_during = {i: appliances.agent_status(i).get("objects_held") for i in ids}
    finally:
        for viewer in viewers:
            viewer.api.close()
        if not _answers(chaos.runtime.control_plane_url):
            start_gateway(
                chaos.processes,
                bind_ip=chaos.plan.gateway_ip,
                env=chaos.runtime.env,
                port=urlsplit(chaos.runtime.control_plane_url).port,
            )
    wait_until(
        lambda: not any(_cut_off(i) for i in ids),
        timeout=120,
        what="every agent to reach the restarted control plane",
    )
    from_appliances = all(ORIGIN not in p.bytes_by_source for p in plays)
    return FaultResult(
        fault="kill the control plane (SIGKILL)",
        expected="appliances keep serving what they hold and delete nothing",
        observed=[
            f"killed pid {pid}; the API {'no longer answers' if down else 'STILL ANSWERS'}",
            *(
                f"{p.client}: play {'succeeded' if p.ok else 'FAILED'} from {_names(list(p.bytes_by_source))}"
                for p in plays
            ),
            "every agent reported its heartbeats failing",
            f"objects held before {held_before}, during {held_during}",
            "restarted on the same address; every agent reconnected",
        ],
        ok=down and all(p.ok for p in plays) and from_appliances and held_during == held_before,
    )


def corrupt_a_file(chaos: Chaos) -> FaultResult:
    """Flip a byte in one stored media file: verify quarantines it, the next fill repairs it."""
    site, appliance = chaos.plan.all_appliances()[-1]
    target = appliance.appliance_id
    path = _exec(target, ["find", STORE_OBJECTS, "-type", "f", "-name", "*.mp4", "-print", "-quit"])
    if not path:
        raise LabError(f"{target} holds no media file to corrupt: has it filled?")
    key = path.removeprefix(STORE_OBJECTS + "/")
    good = _sha256(target, path)
    _exec(target, ["python3", "-c", _FLIP_A_BYTE, path])
    corrupted = _sha256(target, path)
    verify = appliances.exec_in(
        target, [appliances.AGENT_BIN, "verify"], user=appliances.AGENT_USER, timeout=300
    )
    gone = _missing(target, path)
    errors = [str(e) for e in appliances.agent_status(target).get("errors", [])]
    flagged = any(f"verify quarantined {key}" in e for e in errors)
    appliances.agent(target, "fill", "--now")
    repaired = _sha256(target, path) if not _missing(target, path) else "(missing)"
    viewer = chaos.viewer(site.site_id)
    try:
        replay = play(viewer, first_title(viewer), content=chaos.content)
    finally:
        viewer.api.close()
    return FaultResult(
        fault=f"corrupt {key} in {target}'s store",
        expected="verify quarantines it; the next fill fetches it again and it matches",
        observed=[
            f"sha256 {good[:12]}… became {corrupted[:12]}…",
            f"`appliance-agent verify` exited {verify.returncode}: {verify.stdout.strip()}",
            f"the file {'left' if gone else 'is STILL IN'} the served tree; status error "
            f"{'reported' if flagged else 'MISSING'}",
            f"after `appliance-agent fill --now` its sha256 is {repaired[:12]}…",
            f"a play from {target}'s site {'succeeded' if replay.ok else 'FAILED'}",
        ],
        ok=good != corrupted
        and verify.returncode != 0
        and gone
        and flagged
        and repaired == good
        and replay.ok,
    )


FAULTS: list[Callable[[Chaos], FaultResult]] = [
    stop_mid_playback,
    drain_mid_session,
    kill_control_plane,
    corrupt_a_file,
]


def run_faults(chaos: Chaos, *, on_result: Callable[[FaultResult], None]) -> list[FaultResult]:
    """Each fault in turn; a fault that cannot even be staged counts as failed, and the rest run."""
    results = []
    for fault in FAULTS:
        try:
            result = fault(chaos)
        except Exception as exc:  # any error staging a fault fails that fault, not the run
            logger.exception("fault %s could not be staged", fault.__name__)
            name = (fault.__doc__ or fault.__name__).split(";")[0].split(":")[0]
            result = FaultResult(fault=name, expected="-", observed=[f"error: {exc}"], ok=False)
        on_result(result)
        results.append(result)
    return results


# Inverts one byte in the middle of the file named by argv[1], in place.
_FLIP_A_BYTE = (
    "import os, sys\n"
    "with open(sys.argv[1], 'r+b') as f:\n"
    "    f.seek(os.path.getsize(sys.argv[1]) // 2)\n"
    "    b = f.read(1)\n"
    "    f.seek(-1, 1)\n"
    "    f.write(bytes([b[0] ^ 0xFF]))\n"
)


def _exec(appliance_id: str, argv: list[str]) -> str:
    proc = appliances.exec_in(appliance_id, argv, timeout=60)
    if proc.returncode != 0:
        raise LabError(f"{' '.join(argv[:2])} on {appliance_id}: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip()


def _sha256(appliance_id: str, path: str) -> str:
    return _exec(appliance_id, ["sha256sum", path]).split()[0]


def _missing(appliance_id: str, path: str) -> bool:
    return appliances.exec_in(appliance_id, ["test", "-e", path]).returncode != 0


def _cut_off(appliance_id: str) -> bool:
    errors = appliances.agent_status(appliance_id).get("errors", [])
    return any(HEARTBEAT_FAILED in str(e) for e in errors)


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/fleet/v1/register", timeout=2.0)
    except httpx.TransportError:
        return False
    return True


def _names(ids: list[str | None]) -> list[str]:
    return [i or ORIGIN for i in ids]
