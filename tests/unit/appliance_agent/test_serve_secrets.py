"""The stored signing-secret set: private, atomic, and what the heartbeat says nginx accepts."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from appliance_agent.serve.errors import SigningSecretsError
from appliance_agent.serve.signing_secrets import SigningSecretStore, accepted_secret_ids
from edgefill_contracts import SigningSecret, SigningSecretSet

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def _set(*ids: str, not_after: datetime | None = None) -> SigningSecretSet:
    return SigningSecretSet(
        secrets=[
            SigningSecret(
                secret_id=i, secret=SecretStr(f"secret-of-{i}-0123456789"), not_after=not_after
            )
            for i in ids
        ]
    )


def test_round_trip_keeps_the_secret_values_and_mode_0600(tmp_path: Path) -> None:
    store = SigningSecretStore(tmp_path / "state" / "secrets.json")
    assert store.load() is None
    assert store.save(_set("k1", "k2")) is True
    loaded = store.load()
    assert loaded == _set("k1", "k2")
    assert (
        loaded is not None
        and loaded.secrets[0].secret.get_secret_value() == "secret-of-k1-0123456789"
    )
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert "secret-of-k1" not in repr(loaded)  # SecretStr in memory


def test_saving_the_same_set_reports_no_change(tmp_path: Path) -> None:
    store = SigningSecretStore(tmp_path / "secrets.json")
    store.save(_set("k1"))
    assert store.save(_set("k1")) is False
    assert store.save(_set("k1", "k2")) is True


def test_corrupt_file_is_reported_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text('{"secrets": []}')
    with pytest.raises(SigningSecretsError, match="delete it"):
        SigningSecretStore(path).load()


def test_accepted_ids_leave_out_expired_secrets() -> None:
    assert accepted_secret_ids(None, now=NOW) == []
    assert accepted_secret_ids(_set("a", "b"), now=NOW) == ["a", "b"]
    assert accepted_secret_ids(_set("a", not_after=NOW), now=NOW) == []
    assert accepted_secret_ids(_set("a", not_after=NOW + timedelta(seconds=1)), now=NOW) == ["a"]
