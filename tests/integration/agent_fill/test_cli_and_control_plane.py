"""The command line end to end, and the agent's behaviour when the control plane misbehaves."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from appliance_agent.cli import main
from appliance_agent.fill_cycle import FillCycle, http_client
from appliance_agent.manifest_cache import MANIFEST_FILE_NAME
from appliance_agent.store import Store
from edgefill_contracts import ApplianceCredential
from lab.static_nginx import StaticNginx, static_nginx
from tests.integration.agent_fill.agent_lab import (
    APPLIANCE_ID,
    AgentLab,
    make_objects,
    manifest_body,
    write_credential,
    write_tree,
)

pytestmark = pytest.mark.nginx

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[StaticNginx]:
    root = tmp_path / "origin"
    root.mkdir()
    with static_nginx(root, tmp_path / "origin-nginx") as server:
        yield server


def _closed_window_now() -> dict[str, str]:
    now = datetime.now(UTC)
    start = (now + timedelta(hours=2)).strftime("%H:00")
    end = (now + timedelta(hours=3)).strftime("%H:00")
    return {"start": start, "end": end, "timezone": "UTC"}


def test_fill_now_then_status_json_reports_what_is_held(
    lab: AgentLab, origin: StaticNginx, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = make_objects(3, min_size=1000, max_size=5000, seed=30)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)], version="v9"))
    config = str(lab.write_config_file())

    assert main(["--config", config, "fill", "--now"]) == 0
    assert "fill ok: manifest v9, fetched 3 objects" in capsys.readouterr().out

    assert main(["--config", config, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["manifest_version"] == "v9"
    assert status["objects_held"] == 3
    assert status["bytes_held"] == sum(o.size for o in objects)
    assert status["fill"]["last_result"] == "ok"
    assert status["activity"] == "idle"

    assert main(["--config", config, "status"]) == 0
    human = capsys.readouterr().out
    assert "manifest version:  v9" in human and "objects held:      3" in human


def test_fill_without_now_outside_the_window_does_nothing(
    lab: AgentLab,
    origin: StaticNginx,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = _closed_window_now()
    monkeypatch.setenv("EDGEFILL_AGENT_FILL_WINDOW__START", window["start"])
    monkeypatch.setenv("EDGEFILL_AGENT_FILL_WINDOW__END", window["end"])
    config = str(lab.write_config_file())
    assert main(["--config", config, "fill"]) == 0
    assert "fill window is closed" in capsys.readouterr().out
    assert lab.fleet.statuses == []


def test_verify_exits_nonzero_when_it_quarantines(
    lab: AgentLab, origin: StaticNginx, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = make_objects(2, min_size=1000, max_size=5000, seed=31)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
    config = str(lab.write_config_file())
    assert main(["--config", config, "fill", "--now"]) == 0
    assert main(["--config", config, "verify"]) == 0
    (lab.objects_dir / objects[0].key).write_bytes(b"rot")

    assert main(["--config", config, "verify"]) == 1
    assert "1 quarantined" in capsys.readouterr().out
    status = lab.status()
    assert status.missing_keys == [objects[0].key] and status.objects_held == 1
    assert any("quarantined" in e for e in status.errors)


def test_a_bad_config_exits_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('appliance_id = "a"\nbyte_budget = "lots"\n')
    assert main(["--config", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "byte_budget" in err and "control_plane_url" in err


def test_a_revoked_credential_keeps_the_current_content(lab: AgentLab, origin: StaticNginx) -> None:
    objects = make_objects(2, min_size=1000, max_size=5000, seed=32)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
    lab.fill()
    write_credential(
        lab.credential_file,
        ApplianceCredential(
            appliance_id=APPLIANCE_ID, credential_id="cred-1", secret=SecretStr("wrong")
        ),
    )

    report = lab.fill()

    assert lab.fleet.statuses[-1] == 401
    assert report.manifest_version == "v1" and report.result == "ok"
    assert lab.served_files() == {o.key: o.sha256 for o in objects}
    assert any("re-register" in e for e in lab.status().errors)


def test_an_unreachable_control_plane_fills_by_the_cached_manifest(
    lab: AgentLab, origin: StaticNginx
) -> None:
    objects = make_objects(2, min_size=1000, max_size=5000, seed=33)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
    lab.fill()
    index_before = lab.index()

    config = lab.config(control_plane_url=origin.base_url.replace(str(origin.port), "9"))
    with http_client(config) as client:
        cycle = FillCycle(config, client=client)
        refresh = cycle.refresh()
    assert (refresh.version, refresh.changed, refresh.manifest) == ("v1", False, None)
    assert lab.index() == index_before
    assert any("the control plane is unreachable" in e for e in lab.status().errors)


def test_fill_now_with_nothing_new_costs_one_304_and_no_object_work(
    lab: AgentLab, origin: StaticNginx, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = make_objects(3, min_size=1000, max_size=5000, seed=34)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)], version="v4"))
    config = str(lab.write_config_file())
    assert main(["--config", config, "fill", "--now"]) == 0
    capsys.readouterr()
    # The cached manifest is not even read on this path: breaking it changes nothing.
    (lab.state_dir / MANIFEST_FILE_NAME).write_text("{ not gzip")
    requests_before = len(origin.requests())

    assert main(["--config", config, "fill", "--now"]) == 0

    assert "manifest v4 is already held, nothing to do" in capsys.readouterr().out
    assert lab.fleet.statuses == [200, 304]
    assert len(origin.requests()) == requests_before


def test_a_lost_cached_manifest_is_fetched_again_in_full(
    lab: AgentLab, origin: StaticNginx
) -> None:
    objects = make_objects(2, min_size=1000, max_size=5000, seed=35)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)], version="v5"))
    lab.fill()
    (lab.state_dir / MANIFEST_FILE_NAME).write_text("{ not gzip")

    config = lab.config()
    with http_client(config) as client:
        cycle = FillCycle(config, client=client)
        unchanged = cycle.refresh()
        assert (unchanged.version, unchanged.manifest) == ("v5", None)
        assert cycle.manifest_for(unchanged) is None  # unreadable: forget its ETag too
        again = cycle.refresh()

    assert lab.fleet.statuses == [200, 304, 200]
    assert again.manifest is not None and again.manifest.version == "v5"


def test_the_agent_logs_no_presigned_signature_or_credential(lab: AgentLab, tmp_path: Path) -> None:
    objects = make_objects(1, min_size=1000, max_size=1000, seed=15)
    origin_root = tmp_path / "origin"
    write_tree(origin_root, objects)
    with static_nginx(origin_root, tmp_path / "origin-nginx") as origin:
        lab.fleet.serve(
            manifest_body(objects, lambda o: [origin.url(o.key) + "?X-Amz-Signature=s3cr3tsig"])
        )
        config = lab.write_config_file()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "appliance_agent.cli",
                "-v",
                "--config",
                str(config),
                "fill",
                "--now",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stderr
    secret = lab.fleet.credential.secret.get_secret_value()
    for text in (run.stdout, run.stderr):
        assert "s3cr3tsig" not in text
        assert secret not in text


def test_a_second_fill_or_verify_on_a_busy_store_fails_fast(
    lab: AgentLab, origin: StaticNginx, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = make_objects(1, min_size=1000, max_size=1000, seed=36)
    write_tree(origin.root, objects)
    lab.fleet.serve(manifest_body(objects, lambda o: [origin.url(o.key)]))
    config = str(lab.write_config_file())
    holder = Store(lab.store_path)
    try:
        with holder.exclusive("fill"):
            assert main(["--config", config, "fill", "--now"]) == 1
            assert main(["--config", config, "verify"]) == 1
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert "cannot fill: the store" in err and "cannot verify: the store" in err
    assert lab.served_files() == {}
    assert lab.status().activity == "idle"
