"""The serving certificate: where it comes from, when to renew it, and how it is written.

Two sources (TlsSettings.source):

- fleet: the control plane is a small CA. The agent makes a P-256 key on the appliance (it never
  leaves, mode 0600), sends a CSR through POST .../certificate, and writes certificate + chain.
  It renews `renew_before_s` before expiry; the caller then re-renders and reloads nginx.
- files: Ansible places the certificate and key (for example from ACME); the agent checks
  that they exist, that the key is private and that the certificate has not expired.

The `openssl` command line makes keys and CSRs and reads expiry dates, so the appliance needs
no crypto library beyond the one nginx already uses.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from appliance_agent.atomic_file import write_atomically
from appliance_agent.serve.errors import CertificateError
from appliance_agent.serve.settings import TlsSettings, TlsSource
from edgefill_contracts import CertificateRequest, CertificateResponse

logger = logging.getLogger(__name__)

OPENSSL = "openssl"
_OPENSSL_TIMEOUT_S = 30.0


class CertificateIssuer(Protocol):
    """What the fleet client offers: POST .../certificate for this appliance."""

    def issue_certificate(self, request: CertificateRequest) -> CertificateResponse: ...


def _openssl(*args: str, stdin: str | None = None) -> str:
    try:
        # bandit B603: fixed argv, no shell.
        proc = subprocess.run(  # nosec B603
            [OPENSSL, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_OPENSSL_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CertificateError("the openssl command is missing; install openssl") from exc
    if proc.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def certificate_not_after(certificate: Path) -> datetime:
    """The certificate's notAfter, in UTC."""
    if not certificate.is_file():
        raise CertificateError(f"no certificate at {certificate}")
    out = _openssl("x509", "-noout", "-enddate", "-in", str(certificate)).strip()
    # notAfter=Nov 25 10:00:00 2026 GMT
    try:
        value = datetime.strptime(out.removeprefix("notAfter="), "%b %d %H:%M:%S %Y %Z")
    except ValueError as exc:
        raise CertificateError(f"cannot read the expiry of {certificate}: {out!r}") from exc
    return value.replace(tzinfo=UTC)


def needs_renewal(not_after: datetime, *, now: datetime, renew_before_s: int) -> bool:
    return now >= not_after - timedelta(seconds=renew_before_s)


def _pair_matches(certificate: Path, key: Path) -> bool:
    """True if the key is the certificate's (a crash between the two writes leaves a mismatch)."""
    cert_public = _openssl("x509", "-noout", "-pubkey", "-in", str(certificate))
    key_public = _openssl("pkey", "-pubout", "-in", str(key))
    return cert_public.strip() == key_public.strip()


def _check_private(key: Path) -> None:
    try:
        mode = key.stat().st_mode
    except FileNotFoundError as exc:
        raise CertificateError(f"no TLS key at {key}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CertificateError(
            f"TLS key {key} is readable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run chmod 600 {key}"
        )


class CertificateManager:
    """Keeps the certificate and key at their configured paths current."""

    def __init__(
        self, settings: TlsSettings, *, appliance_id: str, issuer: CertificateIssuer | None
    ) -> None:
        self.settings = settings
        self.appliance_id = appliance_id
        self.issuer = issuer

    def ensure(self, *, now: datetime) -> bool:
        """Make sure a usable certificate is in place; True if it changed (nginx must reload)."""
        cert, key = self.settings.certificate_path, self.settings.key_path
        current: datetime | None = None
        if cert.is_file() and key.is_file():
            current = certificate_not_after(cert)
        if self.settings.source is TlsSource.FILES:
            if current is None:
                raise CertificateError(
                    f"tls.source is files but {cert} or {key} is missing; let the Ansible role "
                    "place them, or switch tls.source to fleet"
                )
            _check_private(key)
            if current <= now:
                raise CertificateError(f"certificate {cert} expired at {current:%Y-%m-%d %H:%M}Z")
            return False
        if (
            current is not None
            and not needs_renewal(current, now=now, renew_before_s=self.settings.renew_before_s)
            and _pair_matches(cert, key)
        ):
            _check_private(key)
            return False
        self._issue()
        return True

    def _issue(self) -> None:
        if self.issuer is None:
            raise CertificateError(
                "a certificate must be issued but the agent has no fleet credential yet; "
                "register first (appliance-agent register)"
            )
        key_pem = _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
        staging_key = self.settings.key_path.with_name(f".{self.settings.key_path.name}.new")
        write_atomically(staging_key, key_pem, mode=0o600, parent_mode=0o700)
        try:
            csr_pem = _openssl(
                "req", "-new", "-key", str(staging_key), "-subj", f"/CN={self.appliance_id}"
            )
            response = self.issuer.issue_certificate(CertificateRequest(csr_pem=csr_pem))
            chain = response.certificate_pem.rstrip("\n") + "\n" + response.chain_pem
            write_atomically(self.settings.certificate_path, chain, mode=0o644, parent_mode=0o700)
            os.replace(staging_key, self.settings.key_path)
            # Peer fills go to other appliances over https: their certificates chain to this CA.
            write_atomically(
                self.settings.fleet_ca_path, response.chain_pem, mode=0o644, parent_mode=0o700
            )
        finally:
            staging_key.unlink(missing_ok=True)
        logger.info(
            "installed a new certificate for %s, valid until %s",
            self.appliance_id,
            response.not_after.isoformat(),
        )
