"""First start: trade the one-time bootstrap token for the appliance's own credential.

The credential is written with mode 0600 (created that way, never widened) and atomically, so
a crash never leaves half a credential; the bootstrap token file is removed once it is spent.
Later starts read the stored credential (appliance_agent.credential) and never register again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from pydantic import SecretStr

from appliance_agent import __version__
from appliance_agent.atomic_file import write_atomically
from appliance_agent.credential import load_credential
from appliance_agent.errors import FleetRejected
from appliance_agent.fleet_client import FleetClient
from appliance_agent.health.errors import RegistrationError
from edgefill_contracts import ApplianceCredential, RegistrationRequest

logger = logging.getLogger(__name__)


def store_credential(path: Path, credential: ApplianceCredential) -> None:
    """Write the credential JSON (secret in clear, which is the point) with mode 0600."""
    document = credential.model_dump(mode="json")
    document["secret"] = credential.secret.get_secret_value()
    write_atomically(path, json.dumps(document), mode=0o600, parent_mode=0o700)


def ensure_registered(
    *,
    appliance_id: str,
    credential_file: Path,
    bootstrap_token_file: Path,
    client: FleetClient,
) -> ApplianceCredential:
    """The stored credential, registering first if there is none; `client` signs with it."""
    if credential_file.exists():
        # A restart: every later call (heartbeat, secrets, certificates) needs it too.
        client.credential = load_credential(credential_file, appliance_id=appliance_id)
        return client.credential
    try:
        token = bootstrap_token_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise RegistrationError(
            f"appliance {appliance_id} has no credential ({credential_file}) and no bootstrap "
            f"token ({bootstrap_token_file}); ask an operator for a bootstrap token and place "
            "it there (the Ansible agent role does this)"
        ) from exc
    if not token:
        raise RegistrationError(f"bootstrap token file {bootstrap_token_file} is empty")
    request = RegistrationRequest(
        appliance_id=appliance_id, bootstrap_token=SecretStr(token), agent_version=__version__
    )
    try:
        response = client.register(request)
    except FleetRejected as exc:
        if exc.status_code in (400, 401, 403, 409):
            raise RegistrationError(
                f"the control plane refused the bootstrap token for {appliance_id} "
                f"(HTTP {exc.status_code}): it is wrong, expired or already used; issue a new "
                f"one and place it in {bootstrap_token_file}"
            ) from exc
        raise
    if response.credential.appliance_id != appliance_id:
        raise RegistrationError(
            f"the control plane issued a credential for {response.credential.appliance_id!r}, "
            f"not {appliance_id!r}; nothing was stored, check the fleet registry"
        )
    store_credential(credential_file, response.credential)
    bootstrap_token_file.unlink(missing_ok=True)
    logger.info(
        "registered %s: credential %s stored in %s",
        appliance_id,
        response.credential.credential_id,
        credential_file,
    )
    client.credential = response.credential
    return response.credential
