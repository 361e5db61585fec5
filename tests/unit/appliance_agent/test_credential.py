"""The credential file: owner-only, the right appliance, a valid ApplianceCredential."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance_agent.credential import load_credential
from appliance_agent.errors import ConfigError

VALID = {"appliance_id": "ams-1-a", "credential_id": "c1", "secret": "very-secret-value"}


def _write(tmp_path: Path, document: object, mode: int = 0o600) -> Path:
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(document))
    path.chmod(mode)
    return path


def test_a_valid_owner_only_file_yields_the_authorization_header(tmp_path: Path) -> None:
    credential = load_credential(_write(tmp_path, VALID), appliance_id="ams-1-a")
    assert credential.authorization_header() == "Appliance c1.very-secret-value"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ConfigError, match="chmod 600"):
        load_credential(_write(tmp_path, VALID, mode), appliance_id="ams-1-a")


def test_a_credential_of_another_appliance_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="belongs to appliance 'ams-1-a'"):
        load_credential(_write(tmp_path, VALID), appliance_id="ams-1-b")


def test_a_missing_file_says_to_register_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="register the appliance"):
        load_credential(tmp_path / "absent.json", appliance_id="ams-1-a")


def test_an_invalid_file_is_refused_without_echoing_the_secret(tmp_path: Path) -> None:
    path = _write(tmp_path, {**VALID, "credential_id": ""})
    with pytest.raises(ConfigError) as caught:
        load_credential(path, appliance_id="ams-1-a")
    assert "not a valid appliance credential" in str(caught.value)
    assert "very-secret-value" not in str(caught.value)
