"""The build cache publishes each artifact once, whole, under a lock; losers use the winner's."""

from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from edgefill_build.cache import cache_root, published


def test_the_cache_root_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("EDGEFILL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "edgefill"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "edgefill"


def test_a_relative_cache_variable_is_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGEFILL_CACHE_DIR", "rel")
    assert cache_root() == tmp_path / "rel"


def _make_dir(staging: Path, files: dict[str, str]) -> None:
    staging.mkdir()
    for name, text in files.items():
        (staging / name).write_text(text)


def test_an_artifact_is_built_once_then_found(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(staging: Path) -> None:
        calls.append(staging)
        _make_dir(staging, {"a.whl": "a"})

    first = published(tmp_path / "wheels", build)
    again = published(tmp_path / "wheels", build)
    assert first == again == tmp_path / "wheels"
    assert (first / "a.whl").read_text() == "a"
    assert len(calls) == 1


def test_a_failed_build_publishes_nothing_and_the_next_call_builds_again(tmp_path: Path) -> None:
    def broken(staging: Path) -> None:
        _make_dir(staging, {"half.whl": "x"})
        raise RuntimeError("the download broke")

    with pytest.raises(RuntimeError, match="the download broke"):
        published(tmp_path / "wheels", broken)
    assert not (tmp_path / "wheels").exists()
    assert not (tmp_path / "wheels.staging").exists()
    assert published(tmp_path / "wheels", lambda s: _make_dir(s, {"b": "b"})).is_dir()


def test_a_staging_path_left_by_a_killed_build_is_removed_first(tmp_path: Path) -> None:
    _make_dir(tmp_path / "wheels.staging", {"stale.whl": "old"})
    target = published(tmp_path / "wheels", lambda s: _make_dir(s, {"new.whl": "new"}))
    assert sorted(p.name for p in target.iterdir()) == ["new.whl"]


def test_a_build_that_creates_nothing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="did not create"):
        published(tmp_path / "thing", lambda staging: None)
    assert not (tmp_path / "thing").exists()


def test_a_file_artifact_is_published_too(tmp_path: Path) -> None:
    target = published(tmp_path / "rootfs.tar", lambda s: s.write_bytes(b"tar"))
    assert target.read_bytes() == b"tar"


def _contend(target: str, log: str, barrier: Barrier) -> None:
    def build(staging: Path) -> None:
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(0.3)  # long enough for every other process to reach the lock
        _make_dir(staging, {"pid": str(os.getpid())})

    barrier.wait()
    result = published(Path(target), build)
    with open(log, "a") as out:
        out.write(f"used {(result / 'pid').read_text()}\n")


def test_concurrent_builders_take_turns_and_the_losers_use_the_winners_result(
    tmp_path: Path,
) -> None:
    contenders = 4
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(contenders)
    log = tmp_path / "log"
    processes = [
        context.Process(target=_contend, args=(str(tmp_path / "wheels"), str(log), barrier))
        for _ in range(contenders)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [process.exitcode for process in processes] == [0] * contenders
    lines = log.read_text().splitlines()
    builders = [line for line in lines if not line.startswith("used ")]
    used = {line.removeprefix("used ") for line in lines if line.startswith("used ")}
    assert len(builders) == 1, lines
    assert used == {builders[0]}
