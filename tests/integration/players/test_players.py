"""Standard players play edgefill sessions: hls.js and dash.js (pinned, in Debian's headless
Chromium through Playwright) and ffmpeg, against real nginx appliances and the playback service.

Each browser test plays the whole title, saves a screenshot and the player's event log under
test-artifacts/players/, and asserts on what the player itself reported.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from control_plane.common.settings import ServiceSettings
from lab.player_page import page_url
from tests.integration.players.world import (
    ARTIFACTS,
    TITLE_SECONDS,
    PlayerWorld,
    player_world,
)

pytestmark = [pytest.mark.nginx, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PLAY_TIMEOUT_S = TITLE_SECONDS * 3 + 30


@pytest.fixture
def world(stack: ServiceSettings, tmp_path: Path) -> Iterator[PlayerWorld]:
    with player_world(stack, tmp_path) as world:
        yield world


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield browser
        finally:
            browser.close()


def _play(
    browser: Any,
    url: str,
    name: str,
    *,
    during: Any = None,
) -> dict[str, Any]:
    """Open the player page at `url` and wait for the end (or a fatal error); `during(page,
    state)` is called about twice a second while it plays. Saves a screenshot and the log."""
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.goto(url)
    deadline = time.monotonic() + PLAY_TIMEOUT_S
    state: dict[str, Any] = {}
    try:
        while time.monotonic() < deadline:
            state = page.evaluate("window.edgefill")
            if state["ended"] or state["fatal"]:
                break
            if during is not None:
                during(page, context, state)
            time.sleep(0.5)
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        (ARTIFACTS / f"{name}.json").write_text(
            json.dumps({"url": url, "state": state, "console": console}, indent=1)
        )
        context.close()
    return state


def _stalls(state: dict[str, Any]) -> list[float]:
    """Seconds between each `waiting` and the next `playing` after playback first started."""
    stalls: list[float] = []
    started = False
    waiting_at: float | None = None
    for event in state["events"]:
        if event["kind"] == "playing":
            if started and waiting_at is not None:
                stalls.append(event["at"] - waiting_at)
            started, waiting_at = True, None
        elif event["kind"] == "waiting" and started:
            waiting_at = event["at"]
    return stalls


def _video(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in state["segments"] if s["type"] == "video"]


def _audio_from(state: dict[str, Any], hosts: set[str]) -> bool:
    """The sound played too: audio fragments came, with bytes, from these hosts."""
    audio = [s for s in state["segments"] if s["type"] == "audio" and s["bytes"]]
    return bool(audio) and {s["host"] for s in audio} <= hosts


def _heights(state: dict[str, Any]) -> list[int]:
    return [e["height"] for e in state["events"] if e["kind"] == "level" and e.get("height")]


def _throttle_after(seconds: float, kbps: int) -> Any:
    started = time.monotonic()
    done = False

    def during(page: Any, context: Any, state: dict[str, Any]) -> None:
        nonlocal done
        if done or time.monotonic() - started < seconds:
            return
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 20,
                "downloadThroughput": kbps * 1000 / 8,
                "uploadThroughput": kbps * 1000 / 8,
            },
        )
        done = True

    return during


def _stop_after_segments(world: PlayerWorld, count: int) -> Any:
    stopped: list[str] = []

    def during(page: Any, context: Any, state: dict[str, Any]) -> None:
        if stopped or len(state["segments"]) < count:
            return
        victim = state["pathway"]
        assert victim in world.appliances, f"playing from {victim!r}, not an appliance"
        world.stop_appliance(victim)
        # The snapshot notices within its refresh; steering then leaves it out too.
        world.fleet.change(victim, healthy=False)
        stopped.append(victim)

    during.stopped = stopped  # type: ignore[attr-defined]
    return during


def test_hls_js_plays_to_the_end_and_switches_level_when_throttled(
    world: PlayerWorld, browser: Any
) -> None:
    links = world.start()
    url = page_url(world.page_base, hls=links.hls_url, buffer_s=4)
    state = _play(browser, url, "hls-throttled", during=_throttle_after(8, kbps=300))
    assert state["fatal"] is None, state["events"][-5:]
    assert state["ended"]
    assert state["player"].startswith("hls.js 1.7.4")
    # Every segment came from an appliance pathway, the first in steering's rank.
    video = _video(state)
    assert {s["pathway"] for s in video} == {links.pathways[0]}
    assert _audio_from(state, {s["host"] for s in video})
    heights = _heights(state)
    assert 360 in heights and heights[-1] < 360, heights  # up on loopback, down when throttled


def test_hls_js_keeps_playing_when_its_appliance_stops(world: PlayerWorld, browser: Any) -> None:
    links = world.start()
    stop = _stop_after_segments(world, 4)
    url = page_url(world.page_base, hls=links.hls_url, buffer_s=8)
    state = _play(browser, url, "hls-failover", during=stop)
    assert stop.stopped, "the player never reached its fourth segment"
    assert state["fatal"] is None and state["ended"], state["events"][-8:]
    pathways = [s["pathway"] for s in _video(state)]
    victim = stop.stopped[0]
    after = pathways[pathways.index(victim) :]
    assert any(p not in (victim,) for p in after), pathways  # moved to another pathway
    assert all(stall < 3.0 for stall in _stalls(state)), _stalls(state)


def test_dash_js_plays_to_the_end_and_switches_level_when_throttled(
    world: PlayerWorld, browser: Any
) -> None:
    links = world.start()
    url = page_url(world.page_base, dash=links.dash_url, buffer_s=4)
    state = _play(browser, url, "dash-throttled", during=_throttle_after(8, kbps=300))
    assert state["fatal"] is None, state["events"][-5:]
    assert state["ended"]
    assert state["player"].startswith("dash.js")
    video = _video(state)
    assert {s["pathway"] for s in video} == {links.pathways[0]}
    assert _audio_from(state, {s["host"] for s in video})
    heights = _heights(state)
    assert heights and heights[-1] < max(heights), heights


def test_dash_js_keeps_playing_when_its_appliance_stops(world: PlayerWorld, browser: Any) -> None:
    links = world.start()
    stop = _stop_after_segments(world, 4)
    url = page_url(world.page_base, dash=links.dash_url, buffer_s=8)
    state = _play(browser, url, "dash-failover", during=stop)
    assert stop.stopped, "the player never reached its fourth segment"
    assert state["fatal"] is None and state["ended"], state["events"][-8:]
    victim = stop.stopped[0]
    served = [s["pathway"] for s in _video(state) if s["bytes"]]
    assert served[0] == victim and served[-1] != victim, served  # moved to another location
    assert all(stall < 3.0 for stall in _stalls(state)), _stalls(state)


def test_ffmpeg_plays_every_rendition_of_the_multivariant_playlist(world: PlayerWorld) -> None:
    links = world.start()
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_programs", "-of", "json", links.hls_url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    programs = json.loads(probe.stdout)["programs"]
    # One program per variant: every allowed rendition on every pathway.
    assert len(programs) == len(world.title.renditions) * len(links.pathways)
    for n in range(len(programs)):
        played = subprocess.run(
            ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-stats",
             "-i", links.hls_url, "-map", f"0:p:{n}", "-c", "copy", "-f", "null", "-"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert played.returncode == 0, played.stderr[-2000:]
        times = re.findall(r"time=(\d+):(\d+):([\d.]+)", played.stderr)
        assert times, played.stderr[-500:]
        hours, minutes, seconds = times[-1]
        assert int(hours) * 3600 + int(minutes) * 60 + float(seconds) >= TITLE_SECONDS - 2.5


def test_the_browser_decodes_every_codec_the_seeder_packages(
    world: PlayerWorld, browser: Any
) -> None:
    types = {f'video/mp4; codecs="{r.codecs}"' for r in world.title.renditions if r.codecs} | {
        f'audio/mp4; codecs="{r.audio.codecs}"' for r in world.title.renditions if r.audio
    }
    assert len(types) >= 2, types  # at least one video and one audio codec
    page = browser.new_page()
    page.goto(f"{world.page_base}/page/index.html")
    supported = {t: page.evaluate("t => MediaSource.isTypeSupported(t)", t) for t in types}
    page.close()
    assert all(supported.values()), supported
