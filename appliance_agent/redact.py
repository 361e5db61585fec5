"""Redaction of URLs before they are logged: query strings, userinfo and signed-path tokens."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from edgefill_contracts.signing import SIGNED_PREFIX


def redact_url(url: str) -> str:
    """Drop what grants access: `https://u:p@h/t/k1/<token>/9/T/a?X-Amz-Signature=..` becomes
    `https://h/t/k1/<redacted>/9/T/a?<redacted>`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    path = parts.path
    if path.startswith(SIGNED_PREFIX + "/"):
        segments = path.split("/")
        if len(segments) > 3:
            segments[3] = "<redacted>"
        path = "/".join(segments)
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, host, path, query, ""))
