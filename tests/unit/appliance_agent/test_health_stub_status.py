"""nginx stub_status parsing."""

from __future__ import annotations

import pytest

from appliance_agent.health.errors import StubStatusError
from appliance_agent.health.stub_status import parse_stub_status, read_stub_status

PAGE = (
    "Active connections: 291 \n"
    "server accepts handled requests\n"
    " 16630948 16630948 31070465 \n"
    "Reading: 6 Writing: 179 Waiting: 106 \n"
)


def test_parses_nginx_page() -> None:
    status = parse_stub_status(PAGE)
    assert (status.active, status.accepts, status.requests, status.waiting) == (
        291,
        16630948,
        31070465,
        106,
    )


@pytest.mark.parametrize("text", ["", "<html>404</html>", PAGE.replace("Waiting", "Idle")])
def test_refuses_other_pages(text: str) -> None:
    with pytest.raises(StubStatusError, match="not in nginx's format"):
        parse_stub_status(text)


def test_unreachable_status_port_is_a_stub_status_error() -> None:
    with pytest.raises(StubStatusError, match="is nginx running"):
        read_stub_status("http://127.0.0.1:9/stub_status", timeout_s=1.0)
