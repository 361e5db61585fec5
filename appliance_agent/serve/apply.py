"""`render-nginx` in one call: secrets and certificate in place, render, check, swap, reload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from appliance_agent.serve.errors import SigningSecretsError
from appliance_agent.serve.install import ConfigInstaller, InstallResult
from appliance_agent.serve.nginx import Nginx
from appliance_agent.serve.render import render_tree
from appliance_agent.serve.settings import ServeSettings
from appliance_agent.serve.signing_secrets import SigningSecretStore
from appliance_agent.serve.tls import CertificateManager
from edgefill_contracts import SigningSecretSet

logger = logging.getLogger(__name__)


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
        render_tree(
            settings,
            secrets=secrets,
            destination=destination,
            tls_enabled=tls_enabled,
            ktls_enabled=settings.tls.ktls,
            now=now,
        )

    return installer_for(settings).install(render)


def refresh_signing_secrets(
    settings: ServeSettings,
    *,
    fetch: Callable[[], SigningSecretSet],
    certificates: CertificateManager | None,
    now: datetime,
) -> bool:
    """Fetch the control plane's secret set; if it changed, store it and re-install nginx.

    Returns True if nginx now runs with a new set. If the new tree is refused, the stored set
    is put back, so what is on disk always matches what nginx accepts.
    """
    store = SigningSecretStore(settings.secrets_file)
    previous = store.load()
    if not store.save(fetch()):
        return False
    try:
        render_and_install(settings, certificates=certificates, now=now)
    except BaseException:
        if previous is not None:
            store.save(previous)
        raise
    return True
