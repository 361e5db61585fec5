"""The player page: a missing player install is named with its fix; the page URL carries the session."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lab import player_page
from lab.errors import LabError

HLS = "players/node_modules/hls.js/dist/hls.min.js"
DASH = "players/node_modules/dashjs/dist/modern/umd/dash.all.min.js"


def _install(root: Path, *files: str) -> Path:
    for relative in files:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("// player\n")
    return root / "players"


@pytest.mark.parametrize(("present", "missing"), [((DASH,), HLS), ((HLS,), DASH), ((), HLS)])
def test_a_missing_player_says_which_and_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...], missing: str
) -> None:
    monkeypatch.setattr(player_page, "PLAYERS_DIR", _install(tmp_path, *present))
    with pytest.raises(LabError) as caught:
        player_page.check_players_installed()
    assert missing in str(caught.value)
    assert "make bootstrap" in str(caught.value)


def test_both_players_installed_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(player_page, "PLAYERS_DIR", _install(tmp_path, HLS, DASH))
    player_page.check_players_installed()


def test_the_page_url_carries_the_manifest_url_whole() -> None:
    manifest = "http://127.0.0.1:9/playback/sessions/a.b.c/main.m3u8?x=1&y=2"
    url = player_page.page_url("http://127.0.0.1:8", hls=manifest, buffer_s=1.5)
    parts = urlsplit(url)
    assert parts.path == "/" + player_page.PAGE
    assert parse_qs(parts.query) == {"hls": [manifest], "buffer": ["1.5"]}
