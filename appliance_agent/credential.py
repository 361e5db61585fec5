"""The appliance credential file: JSON of ApplianceCredential, readable by its owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from pydantic import ValidationError

from appliance_agent.errors import ConfigError
from edgefill_contracts import ApplianceCredential


def load_credential(path: Path, *, appliance_id: str) -> ApplianceCredential:
    """Read the credential, refusing a file others can read or one issued to another appliance."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            f"credential file {path} does not exist: register the appliance first "
            "(the registration writes it)"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"credential file {path} cannot be read: {exc}") from exc
    if mode & 0o077:
        raise ConfigError(
            f"credential file {path} has mode {mode:04o}, readable beyond its owner: "
            f"run `chmod 600 {path}`"
        )
    try:
        credential = ApplianceCredential.model_validate_json(text)
    except ValidationError as exc:
        raise ConfigError(
            f"credential file {path} is not a valid appliance credential "
            f"({exc.error_count()} errors, first: {exc.errors()[0]['msg']})"
        ) from exc
    if credential.appliance_id != appliance_id:
        raise ConfigError(
            f"credential file {path} belongs to appliance {credential.appliance_id!r}, "
            f"but the config says {appliance_id!r}: fix one of them"
        )
    return credential
