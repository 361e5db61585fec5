"""Access-log lines as nginx writes them: log_format.LOG_FORMAT with its variables filled in."""

from __future__ import annotations

from pathlib import Path

from appliance_agent.serve.log_format import LOG_FORMAT


def nginx_line(
    obj: str,
    body: int,
    *,
    status: int = 200,
    headers: int = 250,
    cache: str = "",
    peer_fill: bool = False,
    time: str = "2026-11-25T12:00:00+00:00",
) -> str:
    """One line for a request of `obj` ("" if unsigned) that sent `body` body bytes."""
    values = {
        "$time_iso8601": time,
        "$status": str(status),
        "$bytes_sent": str(body + headers),
        "$body_bytes_sent": str(body),
        "$request_time": "0.004",
        "$request_method": "GET",
        "$secret_id": "k1" if obj else "",
        "$edgefill_object": obj,
        "$http_range": "",
        "$upstream_cache_status": cache,
        "$connection": "17",
        "$edgefill_peer_fill": "1" if peer_fill else "0",
    }
    line = LOG_FORMAT
    for variable in sorted(values, key=len, reverse=True):  # $body_bytes_sent before $bytes_sent
        line = line.replace(variable, values[variable])
    if "$" in line:
        raise ValueError(f"log_format has a variable this helper does not fill: {line}")
    return line + "\n"


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
