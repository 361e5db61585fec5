"""The agent's state-file writer: all or nothing, with the target's mode from the start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appliance_agent.atomic_file import write_atomically


def test_writes_bytes_or_text_with_the_mode_and_creates_parents(tmp_path: Path) -> None:
    secret = tmp_path / "private" / "credential.json"
    write_atomically(secret, '{"s": "x"}', mode=0o600, parent_mode=0o700)
    assert secret.read_text() == '{"s": "x"}'
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    write_atomically(secret, b"new")
    assert secret.read_bytes() == b"new"
    assert [p.name for p in secret.parent.iterdir()] == ["credential.json"]  # no temp left


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "status.json"
    write_atomically(target, b"old")

    def refuse(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]
