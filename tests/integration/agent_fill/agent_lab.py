"""An appliance agent under test: its own temp dirs, credential, config and fleet API stub."""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from appliance_agent.config import AgentConfig
from appliance_agent.fill import FillReport
from appliance_agent.fill_cycle import FillCycle, http_client
from appliance_agent.status import AgentStatus, StatusFile
from appliance_agent.store import Store
from edgefill_contracts import ApplianceCredential
from tests.integration.agent_fill.fleet_stub import FleetStub
from tests.support.manifests import BuiltManifest, manifest_of

APPLIANCE_ID = "ams-1-a"
MIB = 1 << 20


@dataclass(frozen=True)
class ContentObject:
    key: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_objects(
    count: int, *, min_size: int, max_size: int, seed: int, title: str = "title-a"
) -> list[ContentObject]:
    rng = random.Random(seed)
    return [
        ContentObject(
            key=f"{title}/r1/seg-{n:05d}.bin",
            data=rng.randbytes(rng.randint(min_size, max_size)),
        )
        for n in range(count)
    ]


def write_tree(root: Path, objects: Sequence[ContentObject]) -> None:
    for obj in objects:
        path = root / obj.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(obj.data)


def new_credential() -> ApplianceCredential:
    return ApplianceCredential(
        appliance_id=APPLIANCE_ID,
        credential_id="cred-1",
        secret=SecretStr("s3cret-" + os.urandom(8).hex()),
    )


def write_credential(path: Path, credential: ApplianceCredential, *, mode: int = 0o600) -> None:
    document = credential.model_dump(mode="json")
    document["secret"] = credential.secret.get_secret_value()
    path.write_text(json.dumps(document))
    path.chmod(mode)


def manifest_body(
    objects: Sequence[ContentObject],
    sources: Callable[[ContentObject], list[str]],
    *,
    version: str = "v1",
    byte_budget: int = 1 << 40,
    appliance_id: str = APPLIANCE_ID,
) -> BuiltManifest:
    """The manifest of `objects`, each with its ranked URLs (the last is the origin's, handed
    out by the fleet stub's origin-URL route), ready for `lab.fleet.serve`."""
    return manifest_of(
        objects,
        lambda o: sources(o),  # type: ignore[arg-type]
        appliance_id=appliance_id,
        version=version,
        byte_budget=byte_budget,
    )


@dataclass
class AgentLab:
    """One agent's files under `root`; `fill()` runs a real fill cycle in this process."""

    root: Path
    fleet: FleetStub

    @property
    def store_path(self) -> Path:
        return self.root / "store"

    @property
    def objects_dir(self) -> Path:
        return self.store_path / "objects"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def credential_file(self) -> Path:
        return self.root / "credential.json"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "control_plane_url": self.fleet.base_url,
            "appliance_id": APPLIANCE_ID,
            "credential_file": str(self.credential_file),
            "store_path": str(self.store_path),
            "state_dir": str(self.state_dir),
            "byte_budget": 1 << 40,
            "free_space_floor": 0,
            "max_fill_rate": 0,
            "concurrency": 4,
            "request_timeout_s": 10.0,
            "attempts_per_source": 2,
            "retry_backoff_s": 0.05,
        }
        values.update(overrides)
        return values

    def config(self, **overrides: Any) -> AgentConfig:
        return AgentConfig(**self.settings(**overrides))

    def write_config_file(self, **overrides: Any) -> Path:
        path = self.root / "agent.toml"
        lines = []
        for name, value in self.settings(**overrides).items():
            lines.append(f"{name} = {json.dumps(value)}")
        path.write_text("\n".join(lines) + "\n")
        return path

    def fill(self, **overrides: Any) -> FillReport:
        config = self.config(**overrides)
        with http_client(config) as client:
            cycle = FillCycle(config, client=client)
            manifest = cycle.manifest_for(cycle.refresh())
            if manifest is None:
                raise AssertionError("the agent has no manifest to fill by")
            return cycle.fill(manifest)

    def status(self) -> AgentStatus:
        return StatusFile(self.state_dir).read()

    def served_files(self) -> dict[str, str]:
        """Every file under the served tree, key -> sha256 (what nginx would serve)."""
        return {
            path.relative_to(self.objects_dir).as_posix(): hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
            for path in self.objects_dir.rglob("*")
            if path.is_file()
        }

    def index(self) -> dict[str, str]:
        store = Store(self.store_path)
        try:
            return {key: entry.sha256 for key, entry in store.index.entries().items()}
        finally:
            store.close()
