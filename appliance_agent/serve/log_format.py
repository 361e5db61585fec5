"""The access-log format nginx writes and the agent parses: one JSON object per line.

Fields (nginx `escape=json`, so every string is valid JSON):

    time        $time_iso8601           request end, ISO 8601 with offset
    status      $status                 HTTP status (number)
    bytes_sent  $bytes_sent             bytes sent to the client, headers included (number)
    body_bytes  $body_bytes_sent        body bytes only (number)
    duration    $request_time           seconds, millisecond resolution (number)
    method      $request_method
    secret_id   $secret_id              which signing secret the URL named ("" if none)
    object      $edgefill_object        "<title>/<rest>" once the signature passed, else ""
    range       $http_range             the Range header, if any
    cache       $upstream_cache_status  origin fallback only: HIT, MISS, ... ("" when local)
    connection  $connection             connection serial number
    peer_fill   $edgefill_peer_fill     1 when another appliance's agent fetched (a fill), else 0

The token and expiry are never logged: a logged URL must not be a replayable URL.
"""

from __future__ import annotations

from typing import Final

LOG_FORMAT_NAME: Final = "edgefill_json"

_FIELDS: Final = (
    ('"time"', '"$time_iso8601"'),
    ('"status"', "$status"),
    ('"bytes_sent"', "$bytes_sent"),
    ('"body_bytes"', "$body_bytes_sent"),
    ('"duration"', "$request_time"),
    ('"method"', '"$request_method"'),
    ('"secret_id"', '"$secret_id"'),
    ('"object"', '"$edgefill_object"'),
    ('"range"', '"$http_range"'),
    ('"cache"', '"$upstream_cache_status"'),
    ('"connection"', "$connection"),
    ('"peer_fill"', "$edgefill_peer_fill"),
)

LOG_FORMAT: Final = "{" + ",".join(f"{name}:{value}" for name, value in _FIELDS) + "}"
"""The body of nginx's `log_format edgefill_json escape=json '<this>'`."""
