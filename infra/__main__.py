"""`pulumi up` entry point: read the stack config, build the Lambda archives, wire, export."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from control_plane.services import all_services
from infra.config import PROJECT, load_stack_config
from infra.packaging import build_lambda_archive
from infra.stack import StackSecrets, build_control_plane

config = load_stack_config()
secrets_config = pulumi.Config(PROJECT)
services = all_services()
# Absolute from here on: a language host may start this file with a relative `__file__`.
build_dir = Path(
    os.environ.get("EDGEFILL_LAMBDA_BUILD_DIR", Path(__file__).resolve().parent.parent / "build")
).resolve()
archive = build_lambda_archive(out_dir=build_dir / "lambda")
control_plane = build_control_plane(
    config=config,
    services=services,
    archive_path=str(archive),
    secrets=StackSecrets(
        url_signing_secret=secrets_config.get_secret("urlSigningSecret"),
        admin_token=secrets_config.get_secret("adminToken"),
    ),
)
for key, value in control_plane.outputs().items():
    pulumi.export(key, value)
