"""Molecule on real systemd containers: converge, idempotence, check mode, verify, rolling upgrade."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgefill_contracts import ApplianceState
from lab.image import podman_env
from tests.integration.ansible.conftest import MoleculeRun, molecule_run, play_recap
from tests.integration.ansible.wheels import build_standin_wheel

# Each test has its own containers, stand-in port and temp dir, so xdist may run them side by side.
pytestmark = [pytest.mark.podman, pytest.mark.timeout(900)]


def assert_ok(completed: subprocess.CompletedProcess[str], what: str) -> str:
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"{what} failed:\n{output[-6000:]}"
    return output


@pytest.fixture
def one_host(tmp_path: Path, appliance_image: str, bridge_gateway: str) -> Iterator[MoleculeRun]:
    wheelhouse = tmp_path / "wheelhouse"
    build_standin_wheel(wheelhouse, "0.1.0")
    yield from molecule_run(
        scenario="default",
        host_count=1,
        tmp_path=tmp_path,
        image=appliance_image,
        gateway=bridge_gateway,
        wheelhouse=wheelhouse,
        agent_version="0.1.0",
    )


def test_converge_is_idempotent_checkable_and_verified(one_host: MoleculeRun) -> None:
    assert_ok(one_host.create(), "molecule create")

    fresh_check = assert_ok(
        one_host("converge", "--", "--check", "--diff"), "check mode on a new host"
    )
    assert play_recap(fresh_check)[one_host.hosts[0]]["failed"] == 0
    assert one_host.fleet.records == {}, "check mode must not register the appliance"

    assert_ok(one_host("converge"), "converge")
    assert_ok(one_host("idempotence"), "idempotence (a second converge reports changed=0)")

    check = assert_ok(one_host("converge", "--", "--check", "--diff"), "check mode after converge")
    assert play_recap(check)[one_host.hosts[0]]["changed"] == 0

    assert_ok(one_host("verify"), "verify")

    unconfirmed = one_host("side-effect")
    assert unconfirmed.returncode != 0, "retire must refuse without the host's name"
    assert "-e edgefill_retire_confirm=" in unconfirmed.stdout
    assert one_host.fleet.actions == []

    host = one_host.hosts[0]
    one_host.env["EDGEFILL_RETIRE_CONFIRM"] = host
    assert_ok(one_host("side-effect"), "retire.yml")
    assert one_host.fleet.actions == [(host, "drain"), (host, "revoke"), (host, "retire")]
    assert one_host.fleet.records[host].revoked
    assert container_shell(host, "test -e /srv/edgefill/store").returncode == 1
    assert container_shell(host, "test -e /var/lib/edgefill/credential.json").returncode == 1
    agent = container_shell(host, "systemctl is-active edgefill-agent")
    assert agent.stdout.strip() == "inactive"


def container_shell(container: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "exec", container, "sh", "-c", command],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def three_hosts(tmp_path: Path, appliance_image: str, bridge_gateway: str) -> Iterator[MoleculeRun]:
    wheelhouse = tmp_path / "wheelhouse"
    build_standin_wheel(wheelhouse, "0.1.0")
    build_standin_wheel(wheelhouse, "0.1.1")
    yield from molecule_run(
        scenario="rolling_upgrade",
        host_count=3,
        tmp_path=tmp_path,
        image=appliance_image,
        gateway=bridge_gateway,
        wheelhouse=wheelhouse,
        agent_version="0.1.0",
    )


def test_rolling_upgrade_stops_at_the_host_that_fails_health(three_hosts: MoleculeRun) -> None:
    first, second, third = three_hosts.hosts
    fleet = three_hosts.fleet
    assert_ok(three_hosts.create(), "molecule create")
    assert_ok(three_hosts("converge"), "converge at 0.1.0")
    assert {r.agent_version for r in fleet.records.values()} == {"0.1.0"}

    fleet.unhealthy_when[second] = "0.1.1"
    three_hosts.env["EDGEFILL_AGENT_VERSION"] = "0.1.1"
    upgrade = three_hosts("side-effect")

    assert upgrade.returncode != 0, "the upgrade should fail on the unhealthy host"
    recap = play_recap(upgrade.stdout)
    assert recap[second]["failed"] == 1, upgrade.stdout[-4000:]
    records = fleet.records
    assert records[first].agent_version == "0.1.1"
    assert records[first].state is ApplianceState.SERVING
    assert records[second].agent_version == "0.1.1"
    assert records[second].state is ApplianceState.DRAINED, "a failed host stays drained"
    assert records[third].agent_version == "0.1.0", "the roll must stop before the third host"
    assert records[third].state is ApplianceState.SERVING
    assert fleet.actions == [
        (first, "drain"),
        (first, "undrain"),
        (second, "drain"),
    ]
