"""The site's client prefixes as the control plane last gave them, kept on disk, so on-net
keeps serving the same subscribers while the control plane is down."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from appliance_agent.atomic_file import write_atomically
from appliance_agent.serve.errors import ClientPrefixesError
from appliance_agent.serve.settings import OnNet, ServeSettings
from edgefill_contracts.fleet_api import ClientPrefixes

logger = logging.getLogger(__name__)


class ClientPrefixStore:
    """Reads and atomically replaces the stored set (not secret: mode 0644)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> ClientPrefixes | None:
        """The stored set, or None before the first fetch."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return ClientPrefixes.model_validate_json(raw)
        except ValidationError as exc:
            raise ClientPrefixesError(
                f"{self.path} does not hold a valid client prefix set ({exc.error_count()} "
                "errors); delete it and let the agent fetch the set from the control plane"
            ) from exc

    def stored_version(self) -> str | None:
        """The stored set's version; None before the first fetch or when it is unreadable."""
        try:
            stored = self.load()
        except ClientPrefixesError:
            return None
        return stored.version if stored is not None else None

    def save(self, prefixes: ClientPrefixes) -> bool:
        """Store `prefixes`; True if they differ from what was stored (nginx must reload).
        A stored file that no longer parses is replaced."""
        if self.stored_version() == prefixes.version:
            return False
        write_atomically(self.path, prefixes.model_dump_json(), mode=0o644, parent_mode=0o700)
        logger.info(
            "stored site %s's %d client prefixes (version %s)",
            prefixes.site_id,
            len(prefixes.prefixes),
            prefixes.version,
        )
        return True


def prefixes_to_fetch(*, stored: str | None, announced: str | None) -> bool:
    """Whether to fetch the site's set: none stored yet (even when the ack names no version,
    as for an appliance record older than the field: without a set on-net installs nothing),
    or the ack names another version than the stored one."""
    return stored is None or (announced is not None and announced != stored)


def effective_on_net(settings: ServeSettings) -> OnNet:
    """The on-net section to render: with `from_control_plane`, the stored set's prefixes.

    Fails closed: on-net enabled from the control plane with no set stored yet raises
    ClientPrefixesError (nothing is installed) rather than serving everyone.
    """
    on_net = settings.on_net
    if not (on_net.enabled and on_net.from_control_plane):
        return on_net
    stored = ClientPrefixStore(settings.client_prefixes_file).load()
    if stored is None:
        raise ClientPrefixesError(
            f"on_net takes the site's client prefixes from the control plane and none are "
            f"stored at {settings.client_prefixes_file} yet: the agent fetches them after "
            "its next heartbeat; nginx keeps its current config until then"
        )
    if not stored.prefixes:
        logger.warning(
            "site %s announces no client prefixes: on-net refuses every subscriber",
            stored.site_id,
        )
    # A copy is not validated again: an empty set renders a geo that refuses everyone.
    return on_net.model_copy(update={"client_prefixes": stored.prefixes})
