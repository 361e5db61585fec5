"""The fleet CA: issues each appliance the TLS certificate its nginx serves clients with.

The CA (ECDSA P-256, self-signed, ten years) is created on first use and kept in the
`fleet-ca` table (tables.CERTIFICATE_AUTHORITY) (KMS-encrypted at rest, readable only by the fleet service's role). A leaf is
valid for 30 days; the agent renews well before. Names come from the registry, never from the
CSR: the appliance's public host name and its addresses. The CSR must be signed by its key and
name the appliance (CN = appliance id), and its key must be EC P-256/P-384 or RSA >= 2048.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, Field

from control_plane.common.documents import DocumentTable
from control_plane.common.errors import BadRequest
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.models import Appliance
from control_plane.fleet.tables import CERTIFICATE_AUTHORITY
from edgefill_contracts.fleet_api import CertificateRequest, CertificateResponse

logger = logging.getLogger(__name__)

LEAF_LIFETIME = timedelta(days=30)
CA_LIFETIME = timedelta(days=3650)
_CA_ID = "fleet-ca-1"


class StoredCA(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_id: str
    key_pem: str = Field(repr=False)
    certificate_pem: str


class FleetCA:
    def __init__(self, *, settings: ServiceSettings) -> None:
        self._docs = DocumentTable(
            settings=settings,
            spec=CERTIFICATE_AUTHORITY,
            model=StoredCA,
            key_of=lambda c: {"ca_id": c.ca_id},
        )

    def issue(
        self, *, appliance: Appliance, request: CertificateRequest, now: datetime
    ) -> CertificateResponse:
        csr = _parse_csr(request.csr_pem, appliance_id=appliance.appliance_id)
        ca = self._load_or_create(now=now)
        ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
        ca_cert = x509.load_pem_x509_certificate(ca.certificate_pem.encode())
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise BadRequest("the stored fleet CA key is not an EC key; rotate the CA")
        not_after = now + LEAF_LIFETIME
        leaf = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, appliance.appliance_id)])
            )
            .issuer_name(ca_cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(_names(appliance)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        logger.info("issued a certificate for %s until %s", appliance.appliance_id, not_after)
        return CertificateResponse(
            certificate_pem=leaf.public_bytes(serialization.Encoding.PEM).decode(),
            chain_pem=ca.certificate_pem,
            not_after=not_after,
        )

    def _load_or_create(self, *, now: datetime) -> StoredCA:
        stored = self._docs.get({"ca_id": _CA_ID})
        if stored is not None:
            return stored.doc
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgefill fleet CA")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        fresh = StoredCA(
            ca_id=_CA_ID,
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        )
        # Two first callers race: the conditional create lets one win; both use the winner.
        return self._docs.upsert({"ca_id": _CA_ID}, initial=fresh, change=lambda c: c, what="CA")


def _parse_csr(pem: str, *, appliance_id: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise BadRequest("csr_pem is not a PEM certificate signing request") from exc
    try:
        valid = csr.is_signature_valid
    except (InvalidSignature, ValueError):
        valid = False
    if not valid:
        raise BadRequest("the CSR's signature does not verify with its own key; regenerate it")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [appliance_id]:
        raise BadRequest(f"the CSR must name this appliance: subject CN={appliance_id}")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise BadRequest(f"EC keys must be P-256 or P-384, not {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise BadRequest(f"RSA keys must be at least 2048 bits, not {key.key_size}")
    else:
        raise BadRequest("the CSR's key must be EC (P-256/P-384) or RSA (>= 2048 bits)")
    return csr


def _names(appliance: Appliance) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    host = urlsplit(appliance.base_url).hostname or ""
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    for address in appliance.addresses:
        ip = x509.IPAddress(ipaddress.ip_address(address))
        if ip not in names:
            names.append(ip)
    return names
