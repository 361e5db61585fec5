"""Config changes on a live nginx: graceful reloads lose nothing; bad configs never go live."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from appliance_agent.serve.apply import render_and_install
from appliance_agent.serve.errors import NginxConfigInvalid, ReloadFailed, TemplateRenderError
from appliance_agent.serve.install import InstallResult, ReloadOutcome
from appliance_agent.serve.lock import DirectoryLock
from appliance_agent.serve.settings import ServeSettings
from tests.integration.agent_serve.appliance_nginx import (
    RunningAppliance,
    appliance_settings,
    put_object,
    store_secrets,
)

pytestmark = pytest.mark.nginx

KEY = "title-1/720p/seg_0001.ts"


def _load(url: str, stop: threading.Event, results: list[tuple[int, int]]) -> None:
    # A fresh connection per request: every request crosses the reload boundary on its own.
    while not stop.is_set():
        try:
            response = httpx.get(url, timeout=10, headers={"Connection": "close"})
            results.append((response.status_code, len(response.content)))
        except httpx.HTTPError as exc:
            results.append((-1, 0))
            print(f"request failed: {exc!r}")


def _wait_for_requests(results: list[tuple[int, int]], *, at_least: int) -> None:
    deadline = time.monotonic() + 60
    while len(results) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)


def _long_download(url: str, out: list[int]) -> None:
    # Reads slowly so it is still in flight across several reloads.
    total = 0
    with httpx.stream("GET", url, timeout=30) as response:
        for chunk in response.iter_bytes(64 * 1024):
            total += len(chunk)
            time.sleep(0.01)
    out.append(total)


def test_reloads_under_load_lose_no_request(appliance: RunningAppliance) -> None:
    small, large = os.urandom(256 * 1024), os.urandom(8 * 1024 * 1024)
    put_object(appliance.settings, KEY, small)
    put_object(appliance.settings, "title-1/1080p/big.ts", large)
    url = appliance.url(KEY)
    stop = threading.Event()
    results: list[tuple[int, int]] = []
    downloaded: list[int] = []
    workers = [threading.Thread(target=_load, args=(url, stop, results)) for _ in range(4)]
    slow = threading.Thread(
        target=_long_download, args=(appliance.url("title-1/1080p/big.ts"), downloaded)
    )
    for thread in [*workers, slow]:
        thread.start()
    try:
        for _ in range(5):
            # Paced by requests, not by the clock: a loaded CI machine gets the same coverage.
            _wait_for_requests(results, at_least=len(results) + 12)
            result = appliance.install()
            assert result.reloaded
        _wait_for_requests(results, at_least=len(results) + 12)
    finally:
        stop.set()
        for thread in [*workers, slow]:
            thread.join(timeout=60)
    assert len(results) > 50, "the load generator made too few requests to mean anything"
    assert all(r == (200, len(small)) for r in results), [r for r in results if r[0] != 200][:5]
    assert downloaded == [len(large)]


def test_config_refused_by_nginx_is_never_installed(
    appliance: RunningAppliance, tmp_path: Path
) -> None:
    put_object(appliance.settings, KEY, b"still serving")
    templates = tmp_path / "templates"
    shutil.copytree(appliance.settings.template_dir, templates)
    conf = templates / "etc" / "nginx" / "nginx.conf.j2"
    conf.write_text(
        conf.read_text().replace("sendfile on;", "sendfile on;\n    no_such_directive 1;")
    )
    broken = appliance.settings.model_copy(update={"template_dir": templates})
    live_before = os.readlink(appliance.settings.config_root / "current")
    releases_before = sorted(os.listdir(appliance.settings.config_root / "releases"))

    with pytest.raises(NginxConfigInvalid, match="no_such_directive") as caught:
        appliance.install(broken)

    assert "unknown directive" in caught.value.output
    assert os.readlink(appliance.settings.config_root / "current") == live_before
    assert sorted(os.listdir(appliance.settings.config_root / "releases")) == releases_before
    assert httpx.get(appliance.url(KEY), timeout=5).content == b"still serving"


def test_template_that_does_not_render_is_refused(
    appliance: RunningAppliance, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(appliance.settings.template_dir, templates)
    conf = templates / "etc" / "nginx" / "nginx.conf.j2"
    conf.write_text(conf.read_text() + "\n{{ no_such_variable }}\n")
    live_before = os.readlink(appliance.settings.config_root / "current")
    with pytest.raises(TemplateRenderError, match="no_such_variable"):
        appliance.install(appliance.settings.model_copy(update={"template_dir": templates}))
    assert os.readlink(appliance.settings.config_root / "current") == live_before


def test_reload_nginx_refuses_is_rolled_back(appliance: RunningAppliance) -> None:
    # nginx -t passes (it binds nothing), but the master cannot bind the taken port on reload.
    put_object(appliance.settings, KEY, b"old config")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        moved = appliance.settings.model_copy(update={"http_port": port})
        live_before = os.readlink(appliance.settings.config_root / "current")
        with pytest.raises(ReloadFailed, match="kept its old config"):
            appliance.install(moved)
    assert os.readlink(appliance.settings.config_root / "current") == live_before
    assert httpx.get(appliance.url(KEY), timeout=5).content == b"old config"


def test_reloads_are_debounced(appliance: RunningAppliance) -> None:
    spaced = appliance.settings.model_copy(update={"reload_min_interval_s": 1.0})
    appliance.install(spaced)
    started = time.monotonic()
    appliance.install(spaced)
    assert time.monotonic() - started >= 0.9


def test_concurrent_installs_inside_the_interval_reload_once(
    appliance: RunningAppliance,
) -> None:
    # The two trees differ in worker count, so the new workers show which one nginx loaded.
    one, two = (
        appliance.settings.model_copy(
            update={"reload_min_interval_s": 2.0, "worker_processes": workers}
        )
        for workers in (1, 2)
    )
    appliance.install(one)  # reloads at once and starts the interval
    before = appliance.nginx.worker_pids()
    seen: set[int] = set()
    done = threading.Event()
    installed: list[tuple[ServeSettings, InstallResult]] = []
    errors: list[BaseException] = []

    def watch() -> None:
        # Each generation of workers lives at least until the next reload, 2 s later at least.
        while not done.is_set():
            seen.update(appliance.nginx.worker_pids())
            time.sleep(0.01)

    def install(settings: ServeSettings) -> None:
        try:
            installed.append((settings, appliance.install(settings)))
        except BaseException as exc:
            errors.append(exc)

    watcher = threading.Thread(target=watch)
    installers = [threading.Thread(target=install, args=(s,)) for s in (one, two)]
    watcher.start()
    for thread in installers:
        thread.start()
    for thread in installers:
        thread.join(timeout=60)
    seen.update(appliance.nginx.worker_pids())
    done.set()
    watcher.join(timeout=10)

    assert errors == []
    (_, first), (last_settings, last) = sorted(installed, key=lambda i: i[1].release.name)
    assert sorted(r.outcome for _, r in installed) == [ReloadOutcome.MERGED, ReloadOutcome.RELOADED]
    assert first.live == last.live == last.release
    assert (
        os.readlink(appliance.settings.config_root / "current") == f"releases/{last.release.name}"
    )
    assert len(seen - before) == last_settings.worker_processes  # one reload, into the last tree
    assert httpx.get(appliance.settings.status_url, timeout=5).status_code == 200


def test_old_releases_are_pruned(appliance: RunningAppliance) -> None:
    for _ in range(appliance.settings.keep_releases + 2):
        appliance.install()
    releases = os.listdir(appliance.settings.config_root / "releases")
    assert len(releases) == appliance.settings.keep_releases
    current = os.readlink(appliance.settings.config_root / "current")
    assert Path(current).name in releases


def test_the_secrets_a_tree_is_rendered_from_are_read_under_the_config_lock(
    tmp_path: Path,
) -> None:
    # An install that waits for the lock must render the secrets on disk once it has the lock,
    # not what was there when it started: otherwise a tree from stale secrets could supersede
    # (and be merged with) one that has the new ones.
    settings = appliance_settings(tmp_path)
    settings.objects_dir.mkdir(parents=True)
    store_secrets(settings, ("old-id", "old-secret-0123456789abcdef"))
    results: list[InstallResult | BaseException] = []

    def install() -> None:
        try:
            results.append(render_and_install(settings, certificates=None, now=datetime.now(UTC)))
        except BaseException as exc:
            results.append(exc)

    with DirectoryLock(settings.config_root):
        waiting = threading.Thread(target=install)
        waiting.start()
        time.sleep(0.5)  # it has started and now waits for the lock
        assert not results
        store_secrets(settings, ("new-id", "new-secret-0123456789abcdef"))
    waiting.join(timeout=60)
    (result,) = results
    assert isinstance(result, InstallResult), result
    rendered = "".join(p.read_text() for p in result.release.rglob("*") if p.is_file())
    assert "new-id" in rendered and "old-id" not in rendered
