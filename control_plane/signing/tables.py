"""The signing key set's DynamoDB table (declarative; the fleet service owns and deploys it)."""

from __future__ import annotations

from control_plane.common.tables import KeyAttribute, TableSpec

# The logical name keeps its fleet- prefix: it is the deployed table's name.
SIGNING_SECRETS = TableSpec(name="fleet-signing-secrets", hash_key=KeyAttribute(name="secret_id"))
