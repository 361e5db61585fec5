"""The player page (`players/page/`): hls.js or dash.js playing one session, on loopback.

The page and the pinned players (`players/node_modules`, installed by the bootstrap from
`players/package-lock.json`) are static files; the tests serve them from a thread, the lab
demo from a process of its own so the page outlives `make demo`.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lab.errors import LabError

PLAYERS_DIR = Path(__file__).resolve().parent.parent / "players"
PAGE = "page/index.html"


def check_players_installed() -> None:
    for needed in ("hls.js/dist/hls.min.js", "dashjs/dist/modern/umd/dash.all.min.js"):
        if not (PLAYERS_DIR / "node_modules" / needed).is_file():
            raise LabError(
                f"players/node_modules/{needed} is missing: run `make bootstrap` (it installs "
                "the pinned hls.js and dash.js with npm ci)"
            )


def page_url(
    base_url: str, *, hls: str | None = None, dash: str | None = None, buffer_s: float = 0
) -> str:
    """The page playing `hls` (a multivariant playlist) or `dash` (an MPD) URL."""
    query: dict[str, str] = {}
    if hls is not None:
        query["hls"] = hls
    if dash is not None:
        query["dash"] = dash
    if buffer_s:
        query["buffer"] = f"{buffer_s:g}"
    return f"{base_url}/{PAGE}?{urlencode(query)}"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_player_page() -> Iterator[str]:
    """Serve players/ on a free loopback port for the block; yields the base URL."""
    check_players_installed()
    handler = functools.partial(_QuietHandler, directory=str(PLAYERS_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="player-page", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def page_server_command(port: int) -> list[str]:
    """The lab's long-lived page server: Python's http.server over players/, on loopback."""
    return [
        sys.executable, "-m", "http.server", str(port),
        "--bind", "127.0.0.1", "--directory", str(PLAYERS_DIR),
    ]  # fmt: skip
