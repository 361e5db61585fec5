"""The last good signing-secret set, kept on disk (0600) so nginx keeps its secrets offline.

The control plane rotates secrets by adding the new one next to the current one; the agent
renders both into nginx's map and reports both ids in its heartbeat, and the control plane
starts signing with the new secret only once every appliance reports it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from appliance_agent.atomic_file import write_atomically
from appliance_agent.serve.errors import SigningSecretsError
from edgefill_contracts import SigningSecretSet

logger = logging.getLogger(__name__)


class SigningSecretStore:
    """Reads and atomically replaces the stored set; the file holds secrets, so mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SigningSecretSet | None:
        """The stored set, or None before the first fetch."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return SigningSecretSet.model_validate_json(raw)
        except ValidationError as exc:
            raise SigningSecretsError(
                f"{self.path} does not hold a valid signing-secret set ({exc.error_count()} "
                "errors); delete it and let the agent fetch the set from the control plane"
            ) from exc

    def save(self, secrets: SigningSecretSet) -> bool:
        """Store `secrets`; return True if they differ from what was stored (nginx must reload)."""
        if self.load() == secrets:
            return False
        document = {
            "secrets": [
                {
                    "secret_id": s.secret_id,
                    "secret": s.secret.get_secret_value(),
                    "not_after": s.not_after.isoformat() if s.not_after else None,
                }
                for s in secrets.secrets
            ]
        }
        write_atomically(self.path, json.dumps(document), mode=0o600, parent_mode=0o700)
        logger.info("stored signing secrets %s", [s.secret_id for s in secrets.secrets])
        return True


def accepted_secret_ids(secrets: SigningSecretSet | None, *, now: datetime) -> list[str]:
    """Ids nginx accepts now: what the heartbeat reports so the control plane can rotate."""
    if secrets is None:
        return []
    return [s.secret_id for s in secrets.secrets if s.not_after is None or s.not_after > now]
