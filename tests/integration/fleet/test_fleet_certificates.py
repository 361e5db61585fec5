"""The fleet CA: certificates for an appliance's own names, from a CSR that names it."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

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
