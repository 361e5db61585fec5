"""Paths and a runner shared by the Ansible tests: the repo's ansible/ tree and its venv tools."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_DIR = REPO / "ansible"
VENV_BIN = REPO / ".venv" / "bin"
CONTAINERS_CONF = REPO / "lab" / "containers.conf"


def ansible_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for ansible/molecule runs: this repo's config, tools and a private temp dir."""
    env = dict(os.environ)
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        CONTAINERS_CONF=str(CONTAINERS_CONF),
        MOLECULE_EPHEMERAL_DIRECTORY=str(tmp_path / "molecule"),
        PY_COLORS="0",
    )
    env.update(extra)
    return env


def run(
    argv: list[str], *, env: dict[str, str], cwd: Path = ANSIBLE_DIR, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
