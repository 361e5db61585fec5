"""nginx's stub_status page, read over loopback and parsed into numbers."""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict

from appliance_agent.health.errors import StubStatusError

_PATTERN = re.compile(
    r"Active connections:\s*(?P<active>\d+)\s*\n"
    r"server accepts handled requests\s*\n"
    r"\s*(?P<accepts>\d+)\s+(?P<handled>\d+)\s+(?P<requests>\d+)\s*\n"
    r"Reading:\s*(?P<reading>\d+)\s+Writing:\s*(?P<writing>\d+)\s+Waiting:\s*(?P<waiting>\d+)"
)


class StubStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    active: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int


def parse_stub_status(text: str) -> StubStatus:
    match = _PATTERN.search(text)
    if match is None:
        raise StubStatusError(
            f"stub_status page is not in nginx's format: {text[:120]!r}; check that "
            "serve.status_port points at the agent-rendered nginx"
        )
    return StubStatus.model_validate({k: int(v) for k, v in match.groupdict().items()})


def read_stub_status(url: str, *, timeout_s: float = 2.0) -> StubStatus:
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise StubStatusError(
            f"cannot read nginx stub_status at {url}: {type(exc).__name__}; is nginx running?"
        ) from exc
    if response.status_code != 200:
        raise StubStatusError(f"nginx stub_status at {url} answered {response.status_code}")
    return parse_stub_status(response.text)
