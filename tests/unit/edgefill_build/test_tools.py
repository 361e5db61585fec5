"""The build finds the uv that bootstrap installs, in the cache root the environment names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgefill_build.tools import UV_VERSION, ToolNotFoundError, bootstrap_pip, find_uv

REPO = Path(__file__).resolve().parents[3]


def test_bootstrap_installs_the_uv_version_the_build_looks_for() -> None:
    script = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert re.search(r'^UV_VERSION="([^"]+)"$', script, re.MULTILINE)[1] == UV_VERSION  # type: ignore[index]


def _fake_tool(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_uv_is_found_under_edgefill_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGEFILL_UV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", str(tmp_path / "cache"))
    uv = _fake_tool(tmp_path / "cache" / "tools" / f"uv-{UV_VERSION}" / "bin" / "uv")
    assert find_uv() == uv


def test_edgefill_uv_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = _fake_tool(tmp_path / "mine" / "uv")
    monkeypatch.setenv("EDGEFILL_UV", str(chosen))
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", str(tmp_path / "cache"))
    _fake_tool(tmp_path / "cache" / "tools" / f"uv-{UV_VERSION}" / "bin" / "uv")
    assert find_uv() == chosen


def test_no_uv_anywhere_names_where_it_looked_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EDGEFILL_UV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolNotFoundError, match=r"make bootstrap") as caught:
        find_uv()
    assert str(tmp_path / "cache" / "tools") in str(caught.value)
    with pytest.raises(ToolNotFoundError, match=r"pip is missing; run `make bootstrap`"):
        bootstrap_pip()
