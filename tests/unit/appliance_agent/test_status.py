"""The agent's one status file: atomic, locked updates, and the heartbeat's views of it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from appliance_agent.status import (
    Activity,
    AgentStatus,
    StatusFile,
    bounded_missing,
    with_error,
)
from edgefill_contracts.heartbeat import (
    MAX_REPORTED_ERRORS,
    MAX_REPORTED_MISSING_KEYS,
    MAX_SAMPLED_MISSING_KEYS,
)


def test_a_fresh_agent_reads_a_blank_status(tmp_path: Path) -> None:
    status = StatusFile(tmp_path).read()
    assert status == AgentStatus()
    assert status.held_digest().manifest_version is None
    assert status.fill_progress().last_result == "never"


def test_updates_are_written_atomically_and_read_back(tmp_path: Path) -> None:
    file = StatusFile(tmp_path)
    file.update(lambda s: s.model_copy(update={"activity": Activity.FILLING, "objects_held": 3}))
    on_disk = json.loads((tmp_path / "status.json").read_text())
    assert on_disk["activity"] == "filling" and on_disk["objects_held"] == 3
    assert file.read().updated_at is not None
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_concurrent_read_modify_writes_lose_nothing(tmp_path: Path) -> None:
    file = StatusFile(tmp_path)

    def bump() -> None:
        for _ in range(25):
            file.update(lambda s: s.model_copy(update={"objects_held": s.objects_held + 1}))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert file.read().objects_held == 100


def test_a_corrupt_file_reads_as_blank_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text("{ half a document")
    assert StatusFile(tmp_path).read() == AgentStatus()


def test_the_held_digest_is_truncated_and_flagged_when_too_many_keys_are_missing() -> None:
    keys = [f"t/{n}" for n in range(MAX_REPORTED_MISSING_KEYS + 500)]
    status = AgentStatus(
        manifest_version="v3",
        objects_held=7,
        bytes_held=70,
        missing_count=len(keys),
        missing_keys=bounded_missing(keys),
    )
    digest = status.held_digest()
    assert len(digest.missing_keys) == MAX_REPORTED_MISSING_KEYS
    assert digest.missing_truncated
    assert (digest.manifest_version, digest.object_count, digest.object_bytes) == ("v3", 7, 70)


def test_errors_are_timestamped_and_only_the_newest_are_kept() -> None:
    errors: list[str] = []
    for n in range(MAX_REPORTED_ERRORS + 5):
        errors = with_error(errors, f"problem {n}")
    assert len(errors) == MAX_REPORTED_ERRORS
    assert errors[-1].endswith(f"problem {MAX_REPORTED_ERRORS + 4}")
    assert errors[0].endswith("problem 5")
    assert errors[0][:4].isdigit()  # ISO timestamp first


def test_heartbeat_carries_only_recent_errors_and_status_keeps_all() -> None:
    from datetime import UTC, datetime, timedelta

    from appliance_agent.status import ERROR_REPORT_WINDOW, AgentStatus, without_errors

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    old = (now - ERROR_REPORT_WINDOW - timedelta(seconds=1)).isoformat(timespec="seconds")
    fresh = (now - timedelta(minutes=1)).isoformat(timespec="seconds")
    status = AgentStatus(
        errors=[f"{old} fill failed: disk full", f"{fresh} verify quarantined t/a"]
    )
    assert status.current_errors(now) == [f"{fresh} verify quarantined t/a"]
    assert len(status.reported_errors()) == 2
    assert without_errors(status.errors, "fill failed:") == [f"{fresh} verify quarantined t/a"]


def test_with_a_bitmap_the_missing_keys_are_only_a_sample() -> None:
    keys = [f"t/r/{n}" for n in range(40)]
    status = AgentStatus(
        manifest_version="v3",
        missing_count=len(keys),
        missing_keys=bounded_missing(keys),
        held_units="eJwDAAAAAAE=",
    )
    digest = status.held_digest()
    assert digest.missing_keys == keys[:MAX_SAMPLED_MISSING_KEYS] and digest.missing_truncated
    few = status.model_copy(update={"missing_count": 3, "missing_keys": keys[:3]})
    assert few.held_digest().missing_keys == keys[:3] and not few.held_digest().missing_truncated
