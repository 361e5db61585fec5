"""Registration: the token is spent once, the credential lands 0600, failures say what to do."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from appliance_agent.errors import ConfigError, FleetRejected
from appliance_agent.fleet_client import FleetClient
from appliance_agent.health.errors import RegistrationError
from appliance_agent.health.registration import ensure_registered, store_credential
from edgefill_contracts import ApplianceCredential


def _client(status: int = 200, appliance_id: str = "ap-1") -> tuple[FleetClient, list[int]]:
    calls: list[int] = []

    def handler(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if status != 200:
            return httpx.Response(status, json={"message": "refused"})
        return httpx.Response(
            200,
            json={
                "credential": {
                    "appliance_id": appliance_id,
                    "credential_id": "c1",
                    "secret": "s" * 24,
                },
                "issued_at": datetime.now(UTC).isoformat(),
            },
        )

    client = FleetClient(
        base_url="http://f", credential=None, timeout_s=1, transport=httpx.MockTransport(handler)
    )
    return client, calls


def _register(tmp_path: Path, client: FleetClient) -> ApplianceCredential:
    return ensure_registered(
        appliance_id="ap-1",
        credential_file=tmp_path / "etc" / "credential.json",
        bootstrap_token_file=tmp_path / "token",
        client=client,
    )


def test_first_start_registers_stores_0600_and_removes_the_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("one-time\n")
    client, calls = _client()
    credential = _register(tmp_path, client)
    assert credential.secret.get_secret_value() == "s" * 24
    assert stat.S_IMODE(os.stat(tmp_path / "etc" / "credential.json").st_mode) == 0o600
    assert not (tmp_path / "token").exists()
    assert client.credential == credential
    again, _ = _client(status=500)
    assert _register(tmp_path, again) == credential  # stored: no second call
    assert calls == [1]
    # A restart signs its heartbeats with the stored credential (found by `make demo-chaos`).
    assert again.credential == credential


def test_no_credential_and_no_token(tmp_path: Path) -> None:
    with pytest.raises(RegistrationError, match="ask an operator for a bootstrap token"):
        _register(tmp_path, _client()[0])


def test_empty_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(RegistrationError, match="is empty"):
        _register(tmp_path, _client()[0])


@pytest.mark.parametrize("status", [401, 403, 409])
def test_refused_token_keeps_the_token_file_and_says_so(tmp_path: Path, status: int) -> None:
    (tmp_path / "token").write_text("used")
    with pytest.raises(RegistrationError, match="wrong, expired or already used"):
        _register(tmp_path, _client(status)[0])
    assert (tmp_path / "token").exists()
    assert not (tmp_path / "etc" / "credential.json").exists()


def test_server_error_is_not_called_a_bad_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("fine")
    with pytest.raises(FleetRejected) as caught:
        _register(tmp_path, _client(500)[0])
    assert not isinstance(caught.value, RegistrationError)


def test_credential_for_another_appliance_is_not_stored(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    with pytest.raises(RegistrationError, match="nothing was stored"):
        _register(tmp_path, _client(appliance_id="ap-2")[0])
    assert not (tmp_path / "etc" / "credential.json").exists()


def test_a_widened_credential_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "credential.json"
    store_credential(
        path,
        ApplianceCredential(appliance_id="ap-1", credential_id="c", secret=SecretStr("x" * 20)),
    )
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        _register(tmp_path, _client()[0])
