"""A stand-in agent (stdlib only) that the Ansible tests package as the `edgefill` wheel.

It does what the roles depend on and nothing else: `appliance-agent --config PATH run` reads
the TOML config the role writes, registers with the bootstrap token from the file named in
`[health] bootstrap_token_file` (and deletes it, as the real agent does), keeps the issued credential in `credential_file` (mode 0600),
and heartbeats every second, following the control plane's desired state (Draining is reported
as Drained on the next beat). The real agent replaces it once it registers and heartbeats.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = "0.0.0"  # the wheel builder rewrites this line


def _post(url: str, body: dict[str, Any], authorization: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def _register(config: dict[str, Any], base: str, credential_file: Path) -> dict[str, Any]:
    token_path = Path(config["health"]["bootstrap_token_file"])
    answer = _post(
        f"{base}/fleet/v1/register",
        {
            "appliance_id": config["appliance_id"],
            "bootstrap_token": token_path.read_text().strip(),
            "agent_version": VERSION,
        },
    )
    credential: dict[str, Any] = answer["credential"]
    fd = os.open(credential_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        json.dump(credential, stream)
    token_path.unlink()  # spent, as the real agent does
    return credential


def run(config_path: Path) -> int:
    config = tomllib.loads(config_path.read_text())
    base = str(config["control_plane_url"]).rstrip("/")
    credential_file = Path(config["credential_file"])
    if credential_file.exists():
        credential = json.loads(credential_file.read_text())
    else:
        credential = _register(config, base, credential_file)
    authorization = f"Appliance {credential['credential_id']}.{credential['secret']}"
    state = "Serving"
    while True:
        beat = {
            "appliance_id": config["appliance_id"],
            "agent_version": VERSION,
            "sent_at": datetime.now(UTC).isoformat(),
            "state": state,
            "disk": {"total_bytes": 1, "used_bytes": 0, "free_bytes": 1},
            "held": {},
            "serving": {},
            "fill": {},
        }
        url = f"{base}/fleet/v1/appliances/{config['appliance_id']}/heartbeat"
        try:
            desired = _post(url, beat, authorization)["desired_state"]
        except OSError as exc:
            sys.stderr.write(f"heartbeat failed: {exc}\n")
        else:
            state = "Drained" if desired == "Draining" else desired
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="appliance-agent")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("command", choices=["run"])
    args = parser.parse_args(argv)
    return run(args.config)
