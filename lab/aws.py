"""The lab's AWS: a moto server process, and the control plane's resources materialized in it
from the Pulumi program (lab.moto_materialize), exactly as `pulumi up` declares them."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from dataclasses import dataclass
from typing import Any

from control_plane.services import all_services
from lab.moto_materialize import materialize_stack
from lab.processes import ProcessTable, free_port

logger = logging.getLogger(__name__)

REGION = "us-east-1"
# moto checks no credentials; these keep boto3 from looking for real ones.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "lab",
    "AWS_SECRET_ACCESS_KEY": "lab-secret",
    "AWS_DEFAULT_REGION": REGION,
}


@dataclass(frozen=True)
class LabAws:
    endpoint_url: str
    exports: dict[str, Any]


def start_moto(processes: ProcessTable, *, bind_ip: str) -> str:
    """Start moto as a server on `bind_ip` (the lab network's gateway) and return its URL."""
    port = free_port(bind_ip)
    processes.start(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", bind_ip, "-p", str(port)],
        env=FAKE_AWS_ENV,
    )
    url = f"http://{bind_ip}:{port}"
    processes.wait_http("moto", f"{url}/moto-api/", timeout=30)
    return url


def materialize(endpoint_url: str, *, name_prefix: str) -> LabAws:
    """Create the stack's tables, buckets, queues and user pool in moto from the Pulumi program."""
    for key, value in FAKE_AWS_ENV.items():
        # boto3 inside the materializer reads these; set them only if the operator has none.
        os.environ.setdefault(key, value)
    stack = materialize_stack(
        endpoint_url=endpoint_url, name_prefix=name_prefix, region=REGION, services=all_services()
    )
    logger.info("materialized %d resources", len(stack.graph.resources))
    return LabAws(endpoint_url=endpoint_url, exports=dict(stack.exports))


LAB_FLEET_VIEW_TTL_S = 5


def service_env(
    aws: LabAws, *, admin_token: str, signing_secret: str, session_secret: str
) -> dict[str, str]:
    """The EDGEFILL_* environment every service process of the lab runs with."""
    e = aws.exports
    return {
        **FAKE_AWS_ENV,
        "EDGEFILL_ENVIRONMENT": "development",
        "EDGEFILL_AWS_REGION": REGION,
        "EDGEFILL_AWS_ENDPOINT_URL": aws.endpoint_url,
        "EDGEFILL_NAME_PREFIX": str(e["name_prefix"]),
        "EDGEFILL_ORIGIN_BUCKET": str(e["origin_bucket"]),
        "EDGEFILL_MANIFEST_BUCKET": str(e["manifest_bucket"]),
        "EDGEFILL_USER_POOL_ID": str(e["user_pool_id"]),
        "EDGEFILL_USER_POOL_CLIENT_ID": str(e["user_pool_client_id"]),
        "EDGEFILL_KMS_KEY_ID": str(e["kms_key_arn"]),
        "EDGEFILL_ADMIN_TOKEN": admin_token,
        "EDGEFILL_URL_SIGNING_SECRET": signing_secret,
        "EDGEFILL_SESSION_SECRET": session_secret,
        # Lab only (production: 30 s): drains and health changes reach steering in seconds.
        "EDGEFILL_FLEET_VIEW_TTL_S": str(LAB_FLEET_VIEW_TTL_S),
        # The snapshot job compiles every second (production: 10 s), 30 s per run.
        "EDGEFILL_STEERING_SNAPSHOT_INTERVAL_S": "1",
        "EDGEFILL_STEERING_SNAPSHOT_RUN_S": "30",
    }


def new_secret() -> str:
    return secrets.token_urlsafe(24)
