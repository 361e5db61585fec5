"""The fleet service's DynamoDB tables (declarative; infra and the test stack create them)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec
from control_plane.signing.tables import SIGNING_SECRETS

SITES = TableSpec(name="fleet-sites", hash_key=KeyAttribute(name="site_id"))
CLUSTERS = TableSpec(name="fleet-clusters", hash_key=KeyAttribute(name="cluster_id"))
APPLIANCES = TableSpec(name="fleet-appliances", hash_key=KeyAttribute(name="appliance_id"))
CREDENTIALS = TableSpec(name="fleet-credentials", hash_key=KeyAttribute(name="credential_id"))
HEALTH = TableSpec(name="fleet-health", hash_key=KeyAttribute(name="appliance_id"))
AUDIT = TableSpec(
    name="fleet-audit",
    hash_key=KeyAttribute(name="appliance_id"),
    range_key=KeyAttribute(name="event_id"),
)

CERTIFICATE_AUTHORITY = TableSpec(name="fleet-ca", hash_key=KeyAttribute(name="ca_id"))
# One item: every ISP's registered address space (models.AddressPlan).
ADDRESS_PLAN = TableSpec(name="fleet-address-plan", hash_key=KeyAttribute(name="plan_id"))

ALL = (
    SITES,
    CLUSTERS,
    APPLIANCES,
    CREDENTIALS,
    HEALTH,
    AUDIT,
    SIGNING_SECRETS,
    CERTIFICATE_AUTHORITY,
    ADDRESS_PLAN,
)
