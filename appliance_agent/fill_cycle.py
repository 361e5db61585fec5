"""One fill cycle: refresh the manifest (or keep the cached one), then fill the store by it.

`FillCycle.run_once()` is the whole sequence, used by the daemon's scheduler and by
`appliance-agent fill` alike.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx

from appliance_agent import USER_AGENT
from appliance_agent.clock import Clock, utc_now
from appliance_agent.config import AgentConfig
from appliance_agent.credential import load_credential
from appliance_agent.errors import ControlPlaneError, ManifestRejected
from appliance_agent.fill import (
    Fill,
    FillObserver,
    FillReport,
    ObserverGroup,
    SilentObserver,
    is_complete,
)
from appliance_agent.fill_status import FillStatusRecorder
from appliance_agent.fleet_client import fleet_client_for
from appliance_agent.manifest_cache import ManifestCache
from appliance_agent.origin_urls import OriginUrlResolver
from appliance_agent.status import StatusFile, with_error
from appliance_agent.store import Store
from edgefill_contracts import Manifest

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestRefresh:
    """The version to fill by and whether it changed; `manifest` is set only when it was
    fetched now (an unchanged one stays on disk until `FillCycle.current_manifest()`)."""

    version: str | None
    changed: bool
    manifest: Manifest | None = None


CycleOutcome = Literal["no manifest", "held", "filled"]


@dataclass(frozen=True)
class CycleResult:
    """What one run of the cycle did: `report` is set only when it filled."""

    outcome: CycleOutcome
    version: str | None = None
    report: FillReport | None = None


def trusted_cas(config: AgentConfig) -> ssl.SSLContext:
    """Public CAs (httpx's default bundle) plus the fleet CA once the agent has been issued a
    certificate: peers serve with fleet-CA certificates, the origin with a public one."""
    context = httpx.create_ssl_context()
    fleet_ca = config.serve.tls.fleet_ca_path
    if fleet_ca.is_file():
        try:
            context.load_verify_locations(cafile=str(fleet_ca))
        except (OSError, ssl.SSLError) as exc:
            logger.warning("fleet CA %s unusable (%s): peers over https will fail", fleet_ca, exc)
    return context


def http_client(config: AgentConfig) -> httpx.Client:
    """The agent's HTTP client: bounded pool, timeouts, no content decoding, no redirects."""
    return httpx.Client(
        verify=trusted_cas(config),
        timeout=httpx.Timeout(config.request_timeout_s),
        limits=httpx.Limits(
            max_connections=config.concurrency + 2, max_keepalive_connections=config.concurrency
        ),
        headers={"Accept-Encoding": "identity", "User-Agent": USER_AGENT},
        follow_redirects=False,
    )


class FillCycle:
    """Owns the agent's manifest cache and status; `refresh()` then `fill()`."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        client: httpx.Client,
        clock: Clock = utc_now,
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._cache = ManifestCache(config.state_dir)
        self.status = StatusFile(config.state_dir)

    def refresh(self) -> ManifestRefresh:
        """Ask the fleet API for a newer manifest; on any failure keep the cached one."""
        cached = self._cache.head()
        credential = load_credential(
            self._config.credential_file, appliance_id=self._config.appliance_id
        )
        try:
            # The manifest may be large: the fill's request timeout, not the heartbeat's.
            with fleet_client_for(
                self._config, credential, timeout_s=self._config.request_timeout_s
            ) as fleet:
                fetched = fleet.fetch_manifest(
                    etag=cached.etag if cached else None, byte_budget=self._config.byte_budget
                )
        except (ManifestRejected, ControlPlaneError) as exc:
            kind = "rejected the new manifest" if isinstance(exc, ManifestRejected) else "error"
            message = str(exc)
            logger.error("%s: %s; keeping the current content", kind, message)
            self.status.update(
                lambda s: s.model_copy(update={"errors": with_error(s.errors, message)})
            )
            return ManifestRefresh(version=cached.version if cached else None, changed=False)
        if fetched is None:
            logger.debug("manifest unchanged (ETag %s)", cached.etag if cached else None)
            return ManifestRefresh(version=cached.version if cached else None, changed=False)
        changed = cached is None or cached.version != fetched.manifest.version
        if fetched.manifest.fill_window != self._config.fill_window:
            logger.warning(
                "manifest %s names fill window %s-%s %s but this appliance's config says "
                "%s-%s %s; the config's window applies (it is set per site at provisioning)",
                fetched.manifest.version,
                fetched.manifest.fill_window.start,
                fetched.manifest.fill_window.end,
                fetched.manifest.fill_window.timezone,
                self._config.fill_window.start,
                self._config.fill_window.end,
                self._config.fill_window.timezone,
            )
        self._cache.save(etag=fetched.etag, version=fetched.manifest.version, body=fetched.body)
        logger.info(
            "manifest %s accepted: %d files, %d bytes",
            fetched.manifest.version,
            fetched.manifest.header.file_count,
            fetched.manifest.total_bytes,
        )
        return ManifestRefresh(
            version=fetched.manifest.version, changed=changed, manifest=fetched.manifest
        )

    def run_once(
        self,
        *,
        observer: FillObserver | None = None,
        stop: threading.Event | None = None,
        deadline: datetime | None = None,
    ) -> CycleResult:
        """Refresh the manifest, then fill by it unless the store already holds it whole
        (the last complete fill was of this version and the store has not changed since)."""
        refresh = self.refresh()
        if refresh.version is None:
            return CycleResult(outcome="no manifest")
        if self.holds_completely(refresh.version):
            return CycleResult(outcome="held", version=refresh.version)
        manifest = self.manifest_for(refresh)
        if manifest is None:
            # The cache named a version but its file is gone: the next refresh fetches it whole.
            return CycleResult(outcome="no manifest", version=refresh.version)
        report = self.fill(manifest, observer=observer, stop=stop, deadline=deadline)
        return CycleResult(outcome="filled", version=manifest.version, report=report)

    def manifest_for(self, refresh: ManifestRefresh) -> Manifest | None:
        """The manifest a refresh names: the one just fetched, else the cached one."""
        if refresh.manifest is not None:
            return refresh.manifest
        cached = self._cache.load()
        return cached.manifest if cached else None

    def holds_completely(self, version: str) -> bool:
        """True when `version` was filled completely and the store has not changed since."""
        store = Store(self._config.store_path)
        try:
            return is_complete(store, version)
        finally:
            store.close()

    def fill(
        self,
        manifest: Manifest,
        *,
        observer: FillObserver | None = None,
        stop: threading.Event | None = None,
        deadline: datetime | None = None,
    ) -> FillReport:
        store = Store(self._config.store_path)
        credential = load_credential(
            self._config.credential_file, appliance_id=self._config.appliance_id
        )
        try:
            with (
                store.exclusive("fill"),
                fleet_client_for(
                    self._config, credential, timeout_s=self._config.request_timeout_s
                ) as fleet,
            ):
                recorder = FillStatusRecorder(status=self.status, store=store, manifest=manifest)
                return Fill(
                    config=self._config,
                    store=store,
                    client=self._client,
                    observer=ObserverGroup([recorder, observer or SilentObserver()]),
                    stop=stop,
                    deadline=deadline,
                    clock=self._clock,
                    origin_urls=OriginUrlResolver(fleet.origin_urls, clock=self._clock),
                ).run(manifest)
        finally:
            store.close()
