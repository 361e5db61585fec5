"""A manifest is validated whole and rejected whole, with a reason a person can act on."""

from __future__ import annotations

import hashlib
import json

import pytest

from appliance_agent.errors import ManifestRejected
from appliance_agent.manifest_validation import parse_manifest
from edgefill_contracts import Manifest
from tests.support.manifests import File, decoded_lines, encoded_lines, manifest_of

SHA = "ab" * 32


def _parse(body: bytes, byte_budget: int = 10_000, sha256: str | None = None) -> Manifest:
    return parse_manifest(body, appliance_id="ams-1-a", byte_budget=byte_budget, sha256=sha256)


def _body(*, appliance_id: str = "ams-1-a", size: int = 10, **header: object) -> bytes:
    built = manifest_of(
        [File(key="t1/720p/a.bin", size=size, sha256=SHA)],
        appliance_id=appliance_id,
        version="v7",
        byte_budget=50_000,
    )
    if not header:
        return built.body
    lines = decoded_lines(built.body)
    return encoded_lines([json.dumps(json.loads(lines[0]) | header), *lines[1:]])


def test_a_valid_manifest_parses() -> None:
    body = _body()
    manifest = _parse(body, sha256=hashlib.sha256(body).hexdigest())
    assert manifest.version == "v7"
    assert [e.key for e in manifest.entries()] == ["t1/720p/a.bin"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_body(schema_version=3), "schema version 3 is not 2: upgrade the agent"),
        (_body(schema_version=1), "upgrade the agent"),
        (_body(title_count=2), "cut short"),
        (_body(appliance_id="ams-9-z"), "not 'ams-1-a'"),
        (_body(size=20_000), "configured byte budget of 10000"),
        (b"{not gzip", "not complete gzip data"),
    ],
    ids=["newer-schema", "older-schema", "cut-short", "other-appliance", "over-budget", "not-gzip"],
)
def test_a_bad_manifest_is_rejected_whole_with_its_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ManifestRejected) as caught:
        _parse(body)
    assert reason in str(caught.value)


def test_a_body_that_is_not_what_the_fleet_announced_is_rejected_before_decoding() -> None:
    with pytest.raises(ManifestRejected, match="corrupted or substituted"):
        _parse(_body(), sha256="0" * 64)
