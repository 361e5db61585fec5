"""`render-nginx` in one call: secrets and certificate in place, render, check, swap, reload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from appliance_agent.serve.client_prefixes import ClientPrefixStore, effective_on_net
from appliance_agent.serve.errors import ServeError, SigningSecretsError
from appliance_agent.serve.install import ConfigInstaller, InstallResult
from appliance_agent.serve.nginx import Nginx
from appliance_agent.serve.render import render_tree
from appliance_agent.serve.settings import ServeSettings
from appliance_agent.serve.signing_secrets import SigningSecretStore
from appliance_agent.serve.tls import CertificateManager
from edgefill_contracts import SigningSecretSet
from edgefill_contracts.fleet_api import ClientPrefixes

logger = logging.getLogger(__name__)

T = TypeVar("T")


def nginx_for(settings: ServeSettings) -> Nginx:
    return Nginx(
        binary=settings.nginx_binary,
        runtime_dir=settings.runtime_dir,
        pid_file=settings.pid_file,
        check_pid_file=settings.check_pid_file,
        reload_request_file=settings.reload_request_file,
    )


def installer_for(settings: ServeSettings) -> ConfigInstaller:
    return ConfigInstaller(
        config_root=settings.config_root,
        nginx=nginx_for(settings),
        reload_min_interval_s=settings.reload_min_interval_s,
        keep_releases=settings.keep_releases,
    )


def render_and_install(
    settings: ServeSettings,
    *,
    certificates: CertificateManager | None,
    now: datetime,
) -> InstallResult:
    """Render from the stored secrets (and certificate, if HTTPS is on) and install the tree.

    Uses only what is on disk, so it works with the control plane down: the last good secrets
    and certificate keep serving. Raises a ServeError subclass that says what to fix.
    """
    tls_enabled = settings.https_port is not None
    if tls_enabled and certificates is not None:
        certificates.ensure(now=now)
    for directory in (settings.log_dir, settings.runtime_dir):
        directory.mkdir(parents=True, exist_ok=True)

    def render(destination: Path) -> None:
        # Read under the installer's lock: a tree rendered from an older read of the secrets
        # could supersede (and be merged with) a tree that has the newer ones.
        secrets = SigningSecretStore(settings.secrets_file).load()
        if secrets is None:
            raise SigningSecretsError(
                f"no signing secrets at {settings.secrets_file}: the agent has not fetched them "
                "yet; run the agent (it fetches them after registering) and render again"
            )
        # Read under the lock too: the prefixes a tree is rendered from are the newest stored.
        effective = settings.model_copy(update={"on_net": effective_on_net(settings)})
        render_tree(
            effective,
            secrets=secrets,
            destination=destination,
            tls_enabled=tls_enabled,
            ktls_enabled=settings.tls.ktls,
            now=now,
        )

    return installer_for(settings).install(render)


class _KeptSet(Protocol[T]):
    """A set the agent keeps on disk and renders into nginx (signing secrets, client prefixes)."""

    path: Path

    def load(self) -> T | None: ...

    def save(self, value: T) -> bool: ...


def _refresh(
    store: _KeptSet[T],
    fetched: T,
    settings: ServeSettings,
    *,
    certificates: CertificateManager | None,
    now: datetime,
) -> bool:
    """Store `fetched`; if it changed, re-install nginx. If the new tree is refused, the
    previous set is put back (or none kept, on a first fetch), so what is on disk always
    matches what nginx runs with. True if nginx now runs with the new set."""
    try:
        previous = store.load()
    except ServeError:
        previous = None  # unreadable: the fetched set replaces it
    if not store.save(fetched):
        return False
    try:
        render_and_install(settings, certificates=certificates, now=now)
    except BaseException:
        if previous is not None:
            store.save(previous)
        else:
            store.path.unlink(missing_ok=True)
        raise
    return True


def refresh_signing_secrets(
    settings: ServeSettings,
    *,
    fetch: Callable[[], SigningSecretSet],
    certificates: CertificateManager | None,
    now: datetime,
) -> bool:
    """Fetch the site's signing secrets; if they changed, store them and re-install nginx."""
    store = SigningSecretStore(settings.secrets_file)
    return _refresh(store, fetch(), settings, certificates=certificates, now=now)


def refresh_client_prefixes(
    settings: ServeSettings,
    *,
    fetch: Callable[[], ClientPrefixes],
    certificates: CertificateManager | None,
    now: datetime,
) -> bool:
    """Fetch the site's client prefixes; if they changed, store them and re-install nginx."""
    store = ClientPrefixStore(settings.client_prefixes_file)
    return _refresh(store, fetch(), settings, certificates=certificates, now=now)
