"""The agent.toml the appliance_agent role renders is one the real agent's config loader accepts."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from appliance_agent.config import load_config
from tests.integration.ansible.support import ANSIBLE_DIR, VENV_BIN, ansible_env, run

TEMPLATE = ANSIBLE_DIR / "roles/appliance_agent/templates/etc/edgefill/agent.toml.j2"


def render_config(tmp_path: Path, variables: dict[str, object]) -> Path:
    """Render the role's template with ansible's own templating on localhost."""
    target = tmp_path / "agent.toml"
    playbook = tmp_path / "render.yml"
    playbook.write_text(
        json.dumps(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Render agent.toml",
                            "ansible.builtin.template": {
                                "src": str(TEMPLATE),
                                "dest": str(target),
                                "mode": "0600",
                            },
                        }
                    ],
                }
            ]
        )
    )
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps(variables))
    result = run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"@{extra_vars}",
            "-e",
            f"ansible_python_interpreter={VENV_BIN / 'python'}",
            str(playbook),
        ],
        env=ansible_env(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def role_variables(**overrides: object) -> dict[str, object]:
    variables: dict[str, object] = {
        "appliance_agent_control_plane_url": "https://fleet.example.net",
        "appliance_agent_id": "ams1-oca01",
        "appliance_agent_credential_file": "/var/lib/edgefill/credential.json",
        "appliance_agent_store_dir": "/srv/edgefill/store",
        "appliance_agent_state_dir": "/var/lib/edgefill",
        "appliance_agent_bootstrap_token_path": "/var/lib/edgefill/bootstrap-token",
        "appliance_agent_tls_dir": "/etc/edgefill/tls",
        "appliance_agent_byte_budget": 3_600_000_000_000,
        "appliance_agent_fill_window": {
            "start": "01:30",
            "end": "12:00",
            "timezone": "Europe/Berlin",
        },
        "appliance_agent_config_extra": {},
        "appliance_agent_nginx_worker_user": "www-data",
        "appliance_agent_nginx_reload_request_file": "/etc/edgefill/nginx/reload/request",
    }
    variables.update(overrides)
    return variables


def test_rendered_config_loads_in_the_real_agent(tmp_path: Path) -> None:
    config = load_config(render_config(tmp_path, role_variables()))

    assert str(config.control_plane_url) == "https://fleet.example.net/"
    assert config.appliance_id == "ams1-oca01"
    assert config.byte_budget == 3_600_000_000_000
    assert config.fill_window.timezone == "Europe/Berlin"
    assert config.fill_window.start.hour == 1 and config.fill_window.start.minute == 30
    assert str(config.credential_file) == "/var/lib/edgefill/credential.json"
    assert str(config.health.bootstrap_token_file) == "/var/lib/edgefill/bootstrap-token"
    # nginx's master is root's: workers as www-data, reloads asked of systemd.
    assert config.serve.nginx_user == "www-data"
    assert str(config.serve.reload_request_file) == "/etc/edgefill/nginx/reload/request"
    # The unit's ReadWritePaths list the TLS directory, so the key must be written inside it.
    assert str(config.serve.tls.key_path) == "/etc/edgefill/tls/appliance.key"
    assert str(config.serve.tls.certificate_path) == "/etc/edgefill/tls/appliance.crt"


def test_extra_settings_merge_into_nested_sections(tmp_path: Path) -> None:
    extra = {"concurrency": 4, "serve": {"http_port": 8080, "miss": {"mode": "not-found"}}}
    config = load_config(
        render_config(tmp_path, role_variables(appliance_agent_config_extra=extra))
    )

    assert config.concurrency == 4
    assert config.serve.http_port == 8080
    assert config.serve.miss.mode.value == "not-found"
    assert str(config.health.bootstrap_token_file) == "/var/lib/edgefill/bootstrap-token"


def test_strings_with_quotes_survive_toml_rendering(tmp_path: Path) -> None:
    tricky = 'https://fleet.example.net/a"b\\c'
    rendered = render_config(tmp_path, role_variables(appliance_agent_control_plane_url=tricky))

    assert tomllib.loads(rendered.read_text())["control_plane_url"] == tricky
