"""The fleet CA: certificates for an appliance's own names, from a CSR that names it."""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from control_plane.common.aws import dynamodb_table
from control_plane.common.errors import Unavailable
from control_plane.fleet.certificates import FleetCA, KeySealer, StoredCA
from control_plane.fleet.tables import CERTIFICATE_AUTHORITY
from edgefill_contracts.fleet_api import CertificateRequest
from tests.integration.fleet.support import FleetHarness


def csr_pem(
    common_name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None
) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _registered(fleet: FleetHarness) -> dict[str, str]:
    fleet.put_site("ams-1")
    fleet.put_cluster("c1", "ams-1")
    fleet.put_appliance("a1", site_id="ams-1", cluster_id="c1")
    return fleet.register("a1")


def test_a_certificate_for_the_registry_names_chained_to_the_fleet_ca(fleet: FleetHarness) -> None:
    auth = _registered(fleet)
    response = fleet.client.post(
        "/fleet/v1/appliances/a1/certificate", json={"csr_pem": csr_pem("a1")}, headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    leaf = x509.load_pem_x509_certificate(body["certificate_pem"].encode())
    ca = x509.load_pem_x509_certificate(body["chain_pem"].encode())
    leaf.verify_directly_issued_by(ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["a1.example.net"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.0.2.10")]
    assert leaf.not_valid_after_utc - fleet.clock.now < timedelta(days=31)

    second = fleet.client.post(
        "/fleet/v1/appliances/a1/certificate", json={"csr_pem": csr_pem("a1")}, headers=auth
    ).json()
    assert second["chain_pem"] == body["chain_pem"], "one CA for the fleet"


@pytest.mark.parametrize(
    ("csr", "fragment"),
    [
        (lambda: csr_pem("a2"), "CN=a1"),
        (
            lambda: csr_pem("a1", rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "at least 2048",
        ),
        (lambda: csr_pem("a1", ec.generate_private_key(ec.SECP521R1())), "P-256 or P-384"),
        (
            lambda: (
                "-----BEGIN CERTIFICATE REQUEST-----\n"
                + "A" * 80
                + "\n-----END CERTIFICATE REQUEST-----\n"
            ),
            "not a PEM",
        ),
    ],
    ids=["other-name", "weak-rsa", "odd-curve", "garbage"],
)
def test_bad_csrs_are_400(fleet: FleetHarness, csr: Callable[[], str], fragment: str) -> None:
    auth = _registered(fleet)
    response = fleet.client.post(
        "/fleet/v1/appliances/a1/certificate", json={"csr_pem": csr()}, headers=auth
    )
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def _ca_item(fleet: FleetHarness) -> dict[str, Any]:
    table = dynamodb_table(fleet.settings, CERTIFICATE_AUTHORITY)
    items = table.scan()["Items"]
    assert len(items) == 1
    return dict(items[0])


def _issue(fleet: FleetHarness, auth: dict[str, str]) -> Any:
    return fleet.client.post(
        "/fleet/v1/appliances/a1/certificate", json={"csr_pem": csr_pem("a1")}, headers=auth
    )


def test_the_ca_key_is_sealed_with_kms_and_never_stored_in_clear(fleet: FleetHarness) -> None:
    auth = _registered(fleet)
    assert _issue(fleet, auth).status_code == 200
    item = _ca_item(fleet)
    assert "PRIVATE KEY" not in json.dumps(item, default=str), "no clear key in the table"
    stored = StoredCA.model_validate_json(str(item["doc"]))
    assert stored.key_pem is None and stored.sealed_key is not None
    # Without KMS (another account's role, a leaked backup) the item signs nothing.
    blind = FleetCA(settings=fleet.settings.model_copy(update={"kms_key_id": ""}))
    with pytest.raises(Unavailable, match="EDGEFILL_KMS_KEY_ID"):
        blind.issue(
            appliance=fleet.context.store.appliances.require({"appliance_id": "a1"}, "a1").doc,
            request=CertificateRequest(csr_pem=csr_pem("a1")),
            now=fleet.clock.now,
        )


def test_a_key_an_older_release_kept_in_clear_is_sealed_on_first_use(fleet: FleetHarness) -> None:
    auth = _registered(fleet)
    key = ec.generate_private_key(ec.SECP256R1())
    first = _issue(fleet, auth).json()  # creates a sealed CA; replace it with a clear one
    clear = StoredCA(
        ca_id="fleet-ca-1",
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        certificate_pem=first["chain_pem"],
    )
    table = dynamodb_table(fleet.settings, CERTIFICATE_AUTHORITY)
    item = _ca_item(fleet)
    table.put_item(Item={**item, "doc": clear.model_dump_json()})
    # The stored certificate no longer matches this key, so only the sealing is checked here.
    _issue(fleet, auth)
    resealed = StoredCA.model_validate_json(str(_ca_item(fleet)["doc"]))
    assert resealed.key_pem is None and resealed.sealed_key is not None
    opened = KeySealer(settings=fleet.settings).open(resealed.sealed_key, context="fleet-ca-1")
    assert opened == clear.key_pem.encode()  # type: ignore[union-attr]


def test_a_sealed_key_altered_in_the_table_is_refused(fleet: FleetHarness) -> None:
    auth = _registered(fleet)
    assert _issue(fleet, auth).status_code == 200
    item = _ca_item(fleet)
    stored = StoredCA.model_validate_json(str(item["doc"]))
    assert stored.sealed_key is not None
    cipher = bytearray(base64.b64decode(stored.sealed_key.ciphertext))
    cipher[0] ^= 1
    altered = stored.model_copy(
        update={
            "sealed_key": stored.sealed_key.model_copy(
                update={"ciphertext": base64.b64encode(bytes(cipher)).decode()}
            )
        }
    )
    table = dynamodb_table(fleet.settings, CERTIFICATE_AUTHORITY)
    table.put_item(Item={**item, "doc": altered.model_dump_json()})
    refused = _issue(fleet, auth)
    assert refused.status_code == 503
    assert "does not decrypt" in refused.json()["message"]
