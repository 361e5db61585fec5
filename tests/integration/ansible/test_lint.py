"""ansible-lint (production profile, nothing skipped) and syntax checks over ansible/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ansible.support import ANSIBLE_DIR, REPO, VENV_BIN, ansible_env, run

EXAMPLE_VAULT_PASSWORD = ANSIBLE_DIR / "inventories" / "example" / "vault-password.example"
PLAYBOOKS = ["site.yml", "upgrade.yml", "drain.yml", "undrain.yml", "retire.yml"]


def test_ansible_lint_production_profile_passes(tmp_path: Path) -> None:
    env = ansible_env(tmp_path, ANSIBLE_VAULT_PASSWORD_FILE=str(EXAMPLE_VAULT_PASSWORD))

    result = run([str(VENV_BIN / "ansible-lint")], env=env, cwd=REPO, timeout=600)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Profile 'production' was required, and it passed" in output
    config = (REPO / ".ansible-lint").read_text()
    assert "skip_list" not in config and "warn_list" not in config


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax_against_the_example_inventory(tmp_path: Path, playbook: str) -> None:
    env = ansible_env(tmp_path, ANSIBLE_VAULT_PASSWORD_FILE=str(EXAMPLE_VAULT_PASSWORD))

    result = run(
        [str(VENV_BIN / "ansible-playbook"), "--syntax-check", f"playbooks/{playbook}"], env=env
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_role_arguments_are_checked_before_anything_runs(tmp_path: Path) -> None:
    """A wrong variable type stops the play at the argument spec, naming the variable."""
    playbook = tmp_path / "bad.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  roles:\n"
        "    - role: appliance_host\n"
        "      appliance_host_management_networks: not-a-list-of-networks\n"
        "      appliance_host_nofile_limit: lots\n"
    )
    env = ansible_env(tmp_path, ANSIBLE_ROLES_PATH=str(ANSIBLE_DIR / "roles"))

    result = run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        env=env,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Validating arguments against arg spec" in output
    assert "appliance_host_nofile_limit" in output
    assert "appliance_host_ntp_servers" in output  # required and missing
