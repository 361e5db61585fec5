"""URLs are logged without what grants access: query signatures, userinfo, signed-path tokens."""

from __future__ import annotations

import pytest

from appliance_agent.redact import redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://moto:5000/bucket/t/a.bin?AWSAccessKeyId=x&Signature=abc&Expires=9",
            "http://moto:5000/bucket/t/a.bin?<redacted>",
        ),
        ("https://user:pw@peer.example/t1/a.bin", "https://peer.example/t1/a.bin"),
        (
            "http://10.0.0.2/t/k1/AbCdEfGhIjKlMnOpQrStUv/1999999999/title/seg.ts",
            "http://10.0.0.2/t/k1/<redacted>/1999999999/title/seg.ts",
        ),
        ("http://peer.example/title/seg.ts", "http://peer.example/title/seg.ts"),
    ],
)
def test_redaction(url: str, expected: str) -> None:
    assert redact_url(url) == expected
