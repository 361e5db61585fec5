"""Wire contracts shared by the control plane and the appliance agent: one source of truth.

This package imports nothing of edgefill's own; both sides import it.
"""

from __future__ import annotations

from edgefill_contracts.errors import ContractError
from edgefill_contracts.fill_window import FillWindow
from edgefill_contracts.fleet_api import (
    FLEET_PREFIX,
    CertificateRequest,
    CertificateResponse,
    HeartbeatAck,
    SigningSecret,
    SigningSecretSet,
    appliance_path,
    register_path,
)
from edgefill_contracts.heartbeat import (
    ApplianceState,
    DiskUsage,
    FillProgress,
    Heartbeat,
    HeldDigest,
    ServingCounters,
)
from edgefill_contracts.identity import (
    ApplianceCredential,
    RegistrationRequest,
    RegistrationResponse,
)
from edgefill_contracts.manifest import MANIFEST_SCHEMA_VERSION, Manifest, ManifestEntry
from edgefill_contracts.object_key import (
    MAX_KEY_LENGTH,
    content_unit,
    unit_of_key,
    validate_object_key,
)
from edgefill_contracts.playback import PlaybackResponse, PlaybackSessionLinks
from edgefill_contracts.served import MAX_UNITS_PER_REPORT, ServedAck, ServedReport
from edgefill_contracts.signing import SignedPath, parse_signed_path, sign_path

__all__ = [
    "FLEET_PREFIX",
    "MANIFEST_SCHEMA_VERSION",
    "MAX_KEY_LENGTH",
    "MAX_UNITS_PER_REPORT",
    "ApplianceCredential",
    "ApplianceState",
    "CertificateRequest",
    "CertificateResponse",
    "ContractError",
    "DiskUsage",
    "FillProgress",
    "FillWindow",
    "Heartbeat",
    "HeartbeatAck",
    "HeldDigest",
    "Manifest",
    "ManifestEntry",
    "PlaybackResponse",
    "PlaybackSessionLinks",
    "RegistrationRequest",
    "RegistrationResponse",
    "ServedAck",
    "ServedReport",
    "ServingCounters",
    "SignedPath",
    "SigningSecret",
    "SigningSecretSet",
    "appliance_path",
    "content_unit",
    "parse_signed_path",
    "register_path",
    "sign_path",
    "unit_of_key",
    "validate_object_key",
]
