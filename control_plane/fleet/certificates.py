"""The fleet CA: issues each appliance the TLS certificate its nginx serves clients with.

The CA (ECDSA P-256, self-signed, ten years) is created on first use and kept in the
`fleet-ca` table (tables.CERTIFICATE_AUTHORITY), readable only by the fleet service's role. Its
private key is sealed (KeySealer): encrypted with a data key from the stack's KMS key
(EDGEFILL_KMS_KEY_ID), so the item alone, a backup or a table export, signs nothing. The CA
serves fleet-internal TLS only (what appliances present); subscribers' names need ACME. A leaf is
valid for 30 days; the agent renews well before. Names come from the registry, never from the
CSR: the appliance's public host name and its addresses. The CSR must be signed by its key and
name the appliance (CN = appliance id), and its key must be EC P-256/P-384 or RSA >= 2048.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, Field

from control_plane.common.aws import kms, unavailable_on_aws_error
from control_plane.common.documents import DocumentTable
from control_plane.common.errors import BadRequest, Unavailable
from control_plane.common.settings import ServiceSettings
from control_plane.fleet.models import Appliance
from control_plane.fleet.tables import CERTIFICATE_AUTHORITY
from edgefill_contracts.fleet_api import CertificateRequest, CertificateResponse

logger = logging.getLogger(__name__)

LEAF_LIFETIME = timedelta(days=30)
CA_LIFETIME = timedelta(days=3650)
_CA_ID = "fleet-ca-1"


class SealedKey(BaseModel):
    """A private key encrypted with AES-256-GCM under a data key that only KMS can decrypt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encrypted_data_key: str  # base64, KMS ciphertext blob
    nonce: str  # base64, 12 bytes
    ciphertext: str = Field(repr=False)  # base64


class StoredCA(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_id: str
    sealed_key: SealedKey | None = None
    # An older release kept the key in clear: it is sealed on the first read, then dropped.
    key_pem: str | None = Field(default=None, repr=False)
    certificate_pem: str


class KeySealer:
    """Envelope encryption with the stack's KMS key: a fresh data key per seal (hand-written
    over AESGCM because the AWS Encryption SDK is not among the project's dependencies)."""

    def __init__(self, *, settings: ServiceSettings) -> None:
        self._settings = settings

    def _kms(self) -> Any:
        if not self._settings.kms_key_id:
            raise Unavailable(
                "no KMS key is configured for the fleet CA: set EDGEFILL_KMS_KEY_ID to the "
                "stack's key (the stack sets it on every function)"
            )
        return kms(self._settings)

    def seal(self, secret: bytes, *, context: str) -> SealedKey:
        with unavailable_on_aws_error("get a data key from KMS"):
            data_key = self._kms().generate_data_key(
                KeyId=self._settings.kms_key_id,
                KeySpec="AES_256",
                EncryptionContext={"edgefill": context},
            )
        nonce = os.urandom(12)
        ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, secret, context.encode())
        return SealedKey(
            encrypted_data_key=base64.b64encode(data_key["CiphertextBlob"]).decode(),
            nonce=base64.b64encode(nonce).decode(),
            ciphertext=base64.b64encode(ciphertext).decode(),
        )

    def open(self, sealed: SealedKey, *, context: str) -> bytes:
        with unavailable_on_aws_error("decrypt the fleet CA's data key with KMS"):
            data_key = self._kms().decrypt(
                CiphertextBlob=base64.b64decode(sealed.encrypted_data_key),
                EncryptionContext={"edgefill": context},
            )["Plaintext"]
        try:
            return AESGCM(data_key).decrypt(
                base64.b64decode(sealed.nonce),
                base64.b64decode(sealed.ciphertext),
                context.encode(),
            )
        except InvalidTag as exc:
            raise Unavailable(
                f"the sealed key of {context} does not decrypt (altered in the table?); "
                "restore the item from a backup or rotate the CA"
            ) from exc


class FleetCA:
    def __init__(self, *, settings: ServiceSettings) -> None:
        self._docs = DocumentTable(
            settings=settings,
            spec=CERTIFICATE_AUTHORITY,
            model=StoredCA,
            key_of=lambda c: {"ca_id": c.ca_id},
        )
        self._sealer = KeySealer(settings=settings)

    def _private_key(self, ca: StoredCA) -> bytes:
        if ca.sealed_key is not None:
            return self._sealer.open(ca.sealed_key, context=ca.ca_id)
        if ca.key_pem is None:
            raise Unavailable(f"{ca.ca_id} holds no key; rotate the CA")
        return ca.key_pem.encode()

    def issue(
        self, *, appliance: Appliance, request: CertificateRequest, now: datetime
    ) -> CertificateResponse:
        csr = _parse_csr(request.csr_pem, appliance_id=appliance.appliance_id)
        ca = self._load_or_create(now=now)
        ca_key = serialization.load_pem_private_key(self._private_key(ca), password=None)
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
        if stored is not None and stored.doc.sealed_key is None and stored.doc.key_pem:
            # Kept in clear by an older release: seal it now and drop the clear copy.
            sealed = self._sealer.seal(stored.doc.key_pem.encode(), context=_CA_ID)
            logger.warning("sealing the fleet CA key %s with KMS (it was stored in clear)", _CA_ID)
            return self._docs.update(
                {"ca_id": _CA_ID},
                lambda c: (
                    c.model_copy(update={"sealed_key": sealed, "key_pem": None})
                    if c.sealed_key is None
                    else c
                ),
                what="CA",
            )
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
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fresh = StoredCA(
            ca_id=_CA_ID,
            sealed_key=self._sealer.seal(key_pem, context=_CA_ID),
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
