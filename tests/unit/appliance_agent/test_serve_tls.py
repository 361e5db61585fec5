"""Certificates: expiry reading, renewal timing, issuance through the issuer, kTLS probing."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance_agent.serve.errors import CertificateError
from appliance_agent.serve.ktls import kernel_offers_ktls, ktls_active, ktls_connections
from appliance_agent.serve.settings import TlsSettings, TlsSource
from appliance_agent.serve.tls import CertificateManager, certificate_not_after, needs_renewal
from edgefill_contracts import CertificateRequest, CertificateResponse

NOW = datetime.now(UTC)


def _self_signed_from_csr(csr_pem: str, directory: Path, days: int) -> str:
    """Sign a CSR with a throwaway CA key using the openssl command line."""
    (directory / "req.csr").write_text(csr_pem)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(directory / "ca.key"), "-out", str(directory / "ca.crt"), "-subj", "/CN=ca",
         "-days", "30"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    out = subprocess.run(
        ["openssl", "x509", "-req", "-in", str(directory / "req.csr"), "-CA", str(directory / "ca.crt"),
         "-CAkey", str(directory / "ca.key"), "-CAcreateserial", "-days", str(days)],
        check=True, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return out.stdout


class Issuer:
    def __init__(self, directory: Path, days: int = 2) -> None:
        self.directory = directory
        self.days = days
        self.requests: list[CertificateRequest] = []

    def issue_certificate(self, request: CertificateRequest) -> CertificateResponse:
        self.requests.append(request)
        pem = _self_signed_from_csr(request.csr_pem, self.directory, self.days)
        return CertificateResponse(
            certificate_pem=pem,
            chain_pem=(self.directory / "ca.crt").read_text(),
            not_after=NOW + timedelta(days=self.days),
        )


def _manager(
    tmp_path: Path, issuer: Issuer | None, source: TlsSource = TlsSource.FLEET
) -> CertificateManager:
    tls = TlsSettings(
        source=source,
        certificate_path=tmp_path / "tls" / "appliance.crt",
        key_path=tmp_path / "tls" / "appliance.key",
        fleet_ca_path=tmp_path / "tls" / "fleet-ca.pem",
        renew_before_s=24 * 3600,
    )
    return CertificateManager(tls, appliance_id="appliance-7", issuer=issuer)


def test_issue_then_keep_then_renew(tmp_path: Path) -> None:
    issuer = Issuer(tmp_path)
    manager = _manager(tmp_path, issuer)
    # openssl signs with the real clock, so expect validity from the moment of issue (NOW is
    # taken at import, minutes earlier on a busy CI run).
    issued_at = datetime.now(UTC)
    assert manager.ensure(now=NOW) is True
    assert "BEGIN CERTIFICATE REQUEST" in issuer.requests[0].csr_pem
    assert stat.S_IMODE(os.stat(manager.settings.key_path).st_mode) == 0o600
    not_after = certificate_not_after(manager.settings.certificate_path)
    assert abs((not_after - (issued_at + timedelta(days=2))).total_seconds()) < 120
    assert manager.ensure(now=NOW) is False
    assert manager.ensure(now=not_after - timedelta(hours=23)) is True  # inside renew_before
    assert len(issuer.requests) == 2


def test_mismatched_key_and_certificate_are_reissued(tmp_path: Path) -> None:
    issuer = Issuer(tmp_path)
    manager = _manager(tmp_path, issuer)
    manager.ensure(now=NOW)
    other = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    manager.settings.key_path.write_text(other)  # as if a crash came between the two writes
    assert manager.ensure(now=NOW) is True


def test_fleet_source_without_a_credential_says_register_first(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="register first"):
        _manager(tmp_path, None).ensure(now=NOW)


def test_files_source_needs_the_files(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="Ansible role"):
        _manager(tmp_path, None, TlsSource.FILES).ensure(now=NOW)


def test_unreadable_certificate_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.crt"
    bad.write_text("not a certificate")
    with pytest.raises(CertificateError, match="openssl x509 failed"):
        certificate_not_after(bad)


@pytest.mark.parametrize(
    ("hours_left", "renew"), [(48, False), (25, False), (24, True), (1, True), (-1, True)]
)
def test_needs_renewal(hours_left: int, renew: bool) -> None:
    assert (
        needs_renewal(NOW + timedelta(hours=hours_left), now=NOW, renew_before_s=24 * 3600) is renew
    )


def test_ktls_connections_parses_tls_stat(tmp_path: Path) -> None:
    stat_file = tmp_path / "tls_stat"
    stat_file.write_text("TlsCurrTxSw                     3\nTlsCurrRxSw  2\nTlsCurrTxDevice 4\n")
    assert ktls_connections(stat_file) == 7
    assert ktls_connections(tmp_path / "absent") == 0


def test_ktls_active_needs_tls_the_request_and_the_kernel() -> None:
    offered = kernel_offers_ktls()
    assert ktls_active(tls_enabled=True, ktls_requested=True) is offered
    assert ktls_active(tls_enabled=False, ktls_requested=True) is False
    assert ktls_active(tls_enabled=True, ktls_requested=False) is False


def test_issue_keeps_the_fleet_ca_and_the_fill_client_trusts_it(tmp_path: Path) -> None:
    """Peer fills go to other appliances over https, whose certificates chain to the fleet CA."""
    from appliance_agent.config import AgentConfig
    from appliance_agent.fill_cycle import trusted_cas

    manager = _manager(tmp_path, Issuer(tmp_path))
    manager.ensure(now=NOW)
    ca_path = manager.settings.fleet_ca_path
    assert ca_path.read_text() == (tmp_path / "ca.crt").read_text()

    def subjects(config: AgentConfig) -> set[str]:
        return {str(cert["subject"]) for cert in trusted_cas(config).get_ca_certs()}

    def config(ca: Path) -> AgentConfig:
        return AgentConfig.model_validate(
            {
                "control_plane_url": "https://fleet.example.net",
                "appliance_id": "ams1-a",
                "byte_budget": 1,
                "serve": {"tls": {"fleet_ca_path": ca}},
            }
        )

    with_ca, without = config(ca_path), config(tmp_path / "absent.pem")
    fleet_ca_subject = "((('commonName', 'ca'),),)"
    assert fleet_ca_subject in subjects(with_ca)
    assert fleet_ca_subject not in subjects(without)
