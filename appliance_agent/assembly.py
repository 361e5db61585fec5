"""Build the serving and health objects from AgentConfig: what the CLI and the daemon call.

The store path and the state directory come from AgentConfig (one place for each), so the
serve section never names them a second time. Only the daemon counts and reports served bytes
(`report_served`): the served ledger has one owner, never a one-shot CLI command beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry

from appliance_agent.clock import utc_now
from appliance_agent.config import AgentConfig
from appliance_agent.daemon import EveryInterval, PeriodicTask
from appliance_agent.fleet_client import FleetClient, fleet_client_for
from appliance_agent.health.access_log import AccessLogTail, ServingTally
from appliance_agent.health.heartbeat import HeartbeatTask
from appliance_agent.health.metrics import HealthCollector, ServedCollector, serve_metrics
from appliance_agent.health.registration import ensure_registered
from appliance_agent.health.served_ledger import ServedLedger
from appliance_agent.health.served_reports import ServedReporter
from appliance_agent.health.snapshot import ControlPlaneLink, HealthMonitor
from appliance_agent.health.stub_status import StubStatus, read_stub_status
from appliance_agent.serve.apply import (
    installer_for,
    refresh_client_prefixes,
    refresh_signing_secrets,
    render_and_install,
)
from appliance_agent.serve.client_prefixes import ClientPrefixStore, prefixes_to_fetch
from appliance_agent.serve.drain import DrainController
from appliance_agent.serve.errors import ServeError
from appliance_agent.serve.install import ReloadOutcome
from appliance_agent.serve.ktls import ktls_active
from appliance_agent.serve.settings import ServeSettings, TlsSource
from appliance_agent.serve.signing_secrets import SigningSecretStore
from appliance_agent.serve.tls import CertificateManager
from appliance_agent.status import StatusFile
from edgefill_contracts import ApplianceCredential

logger = logging.getLogger(__name__)


def serve_settings(config: AgentConfig) -> ServeSettings:
    """The serve section with the store and state paths taken from the agent's own."""
    state = config.state_dir
    return config.serve.model_copy(
        update={
            "store_dir": config.store_path,
            "secrets_file": state / "signing-secrets.json",
            "client_prefixes_file": state / "client-prefixes.json",
            "drain": config.serve.drain.model_copy(update={"state_file": state / "drain.json"}),
        }
    )


def register(config: AgentConfig, client: FleetClient) -> ApplianceCredential:
    return ensure_registered(
        appliance_id=config.appliance_id,
        credential_file=config.credential_file,
        bootstrap_token_file=config.health.bootstrap_token_file,
        client=client,
    )


def certificate_manager(config: AgentConfig, client: FleetClient | None) -> CertificateManager:
    tls = config.serve.tls
    return CertificateManager(
        tls,
        appliance_id=config.appliance_id,
        issuer=client if tls.source is TlsSource.FLEET else None,
    )


def drain_controller(settings: ServeSettings) -> DrainController:
    def active_connections() -> int:
        return read_stub_status(settings.status_url).active

    return DrainController(settings.drain, active_connections=active_connections)


def health_monitor(
    config: AgentConfig, *, link: ControlPlaneLink, ledger: ServedLedger | None = None
) -> HealthMonitor:
    """With `ledger`, the access log is tailed from the ledger's saved position (if it has
    one) and its counts go into the ledger."""
    settings = serve_settings(config)
    tail = AccessLogTail(
        settings.access_log,
        from_start=config.health.access_log_from_start,
        resume=ledger.position if ledger is not None else None,
    )

    def stub_status() -> StubStatus:
        return read_stub_status(settings.status_url)

    return HealthMonitor(
        store_path=config.store_path,
        status_file=StatusFile(config.state_dir),
        tally=ServingTally(tail, ledger=ledger),
        stub_status=stub_status,
        drain=drain_controller(settings),
        secrets=SigningSecretStore(settings.secrets_file),
        ktls_active=ktls_active(
            tls_enabled=settings.https_port is not None, ktls_requested=settings.tls.ktls
        ),
        link=link,
    )


@contextmanager
def serving_tasks(config: AgentConfig) -> Iterator[list[PeriodicTask]]:
    """The daemon's serving side: register if needed, serve /metrics, heartbeat, renew TLS."""
    with fleet_client_for(config, None) as client:
        register(config, client)
        reload_pending_config(serve_settings(config))
        registry = CollectorRegistry()
        tasks: list[PeriodicTask] = [
            heartbeat_task(config, client=client, registry=registry, report_served=True)
        ]
        settings = serve_settings(config)
        if settings.https_port is not None:
            tasks.append(_tls_renewal(config, settings, client))
        server = _start_metrics(config, registry)
        try:
            yield tasks
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()


def reload_pending_config(settings: ServeSettings) -> None:
    """A config an earlier agent swapped in but died before reloading goes live now; a failure
    is logged and nginx keeps what it runs (the agent's start is never blocked on it)."""
    try:
        result = installer_for(settings).reload_pending()
    except ServeError as exc:
        logger.error("could not load the pending nginx config: %s", exc)
        return
    except Exception:  # e.g. a permission error on the config root: still start serving
        logger.exception("could not check for a pending nginx config")
        return
    if result is not None and result.outcome is ReloadOutcome.RELOADED:
        logger.info("loaded nginx config %s, left pending by an earlier run", result.live.name)


def _start_metrics(config: AgentConfig, registry: CollectorRegistry) -> WSGIServer | None:
    """Metrics are worth less than serving: a port that cannot be bound is logged, not fatal."""
    port = config.health.metrics_port
    if port is None:
        return None
    try:
        server, _thread = serve_metrics(registry, address=config.health.metrics_address, port=port)
    except OSError as exc:
        logger.error(
            "cannot serve /metrics on %s:%d (%s); running without it, set health.metrics_port",
            config.health.metrics_address,
            port,
            exc.strerror,
        )
        return None
    return server


def _tls_renewal(
    config: AgentConfig, settings: ServeSettings, client: FleetClient
) -> EveryInterval:
    """Hourly: renew the certificate before it expires, then re-render and reload nginx.

    Only renews: the first certificate is issued by the first render (render_and_install),
    so an appliance that has never been set up to serve writes nothing here.
    """
    certificates = certificate_manager(config, client)

    def renew() -> None:
        if not settings.tls.certificate_path.exists():
            return
        if certificates.ensure(now=utc_now()):
            render_and_install(settings, certificates=certificates, now=utc_now())

    return EveryInterval(name="tls-renewal", interval_s=3600.0, action=renew)


def heartbeat_task(
    config: AgentConfig,
    *,
    client: FleetClient,
    registry: CollectorRegistry | None = None,
    report_served: bool = False,
) -> HeartbeatTask:
    """The daemon's heartbeat; with `registry`, the same monitor also feeds /metrics; with
    `report_served`, it counts served bytes in `<state_dir>/served-ledger.json` and reports
    them (the daemon only)."""
    settings = serve_settings(config)
    ledger = ServedLedger.load(config.state_dir) if report_served else None
    monitor = health_monitor(config, link=ControlPlaneLink(), ledger=ledger)
    served = (
        ServedReporter(
            ledger=ledger, client=client, interval_s=config.health.served_report_interval_s
        )
        if ledger is not None
        else None
    )
    certificates = certificate_manager(config, client) if settings.https_port else None

    def refresh_secrets() -> None:
        refresh_signing_secrets(
            settings,
            fetch=client.signing_secrets,
            certificates=certificates,
            now=utc_now(),
        )

    def refresh_prefixes(version: str | None) -> None:
        on_net = settings.on_net
        if not (on_net.enabled and on_net.from_control_plane):
            return  # not used: nothing to fetch
        stored = ClientPrefixStore(settings.client_prefixes_file).stored_version()
        if not prefixes_to_fetch(stored=stored, announced=version):
            return
        refresh_client_prefixes(
            settings, fetch=client.client_prefixes, certificates=certificates, now=utc_now()
        )

    if registry is not None:
        registry.register(HealthCollector(lambda: monitor.snapshot(utc_now())))
        if served is not None:
            registry.register(ServedCollector(served.stats))
    return HeartbeatTask(
        appliance_id=config.appliance_id,
        settings=config.health,
        monitor=monitor,
        client=client,
        drain=monitor.drain,
        status_file=monitor.status_file,
        refresh_secrets=refresh_secrets,
        refresh_prefixes=refresh_prefixes,
        served=served,
    )
