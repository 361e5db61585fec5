"""Rendering the nginx tree: what goes in, what is refused, and that nothing is half-written."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from appliance_agent.serve.errors import SigningSecretsError, TemplateRenderError
from appliance_agent.serve.log_format import LOG_FORMAT
from appliance_agent.serve.render import render_tree, usable_secrets
from appliance_agent.serve.settings import MissMode, ServeSettings
from edgefill_contracts import SigningSecret, SigningSecretSet

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
GOOD = "a-good-secret-0123456789"


def _secrets(*items: tuple[str, str, datetime | None]) -> SigningSecretSet:
    return SigningSecretSet(
        secrets=[SigningSecret(secret_id=i, secret=SecretStr(s), not_after=n) for i, s, n in items]
    )


def _settings(tmp_path: Path, **overrides: object) -> ServeSettings:
    values: dict[str, object] = {
        "config_root": tmp_path / "nginx",
        "runtime_dir": tmp_path / "run",
        "log_dir": tmp_path / "log",
        "store_dir": tmp_path / "store",
        "http_port": 8080,
        "https_port": None,
    }
    values.update(overrides)
    return ServeSettings.model_validate(values)


def _render(tmp_path: Path, settings: ServeSettings, **kwargs: object) -> Path:
    out = tmp_path / "tree"
    render_tree(
        settings,
        secrets=kwargs.pop("secrets", _secrets(("k1", GOOD, None))),  # type: ignore[arg-type]
        destination=out,
        tls_enabled=bool(kwargs.pop("tls", False)),
        ktls_enabled=bool(kwargs.pop("ktls", False)),
        now=NOW,
    )
    return out


def test_tree_mirrors_the_templates_and_is_private(tmp_path: Path) -> None:
    out = _render(tmp_path, _settings(tmp_path))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "edgefill/expiry.js",
        "edgefill/mime.types",
        "edgefill/signed-content.conf",
        "edgefill/signing-secrets.map",
        "nginx.conf",
    ]
    for path in out.rglob("*"):
        assert stat.S_IMODE(os.stat(path).st_mode) in (0o600, 0o700)
    conf = (out / "nginx.conf").read_text()
    assert "{{" not in conf and "{%" not in conf
    assert LOG_FORMAT in conf
    assert "worker_shutdown_timeout 300s;" in conf
    assert "listen 127.0.0.1:8081;" in conf  # stub_status on loopback only


def test_secrets_map_holds_current_and_previous_but_not_expired(tmp_path: Path) -> None:
    secrets = _secrets(
        ("old", "expired-secret-0123456789", NOW - timedelta(seconds=1)),
        ("prev", "previous-secret-012345678", NOW + timedelta(hours=1)),
        ("cur", GOOD, None),
    )
    out = _render(tmp_path, _settings(tmp_path), secrets=secrets)
    mapping = (out / "edgefill" / "signing-secrets.map").read_text()
    assert 'prev "previous-secret-012345678";' in mapping
    assert f'cur "{GOOD}";' in mapping
    assert "expired-secret" not in mapping


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("short", "shorter than 16"),
        ('has"quote-0123456789', "interpret"),
        ("has$variable-0123456789", "interpret"),
        ("has space-0123456789ab", "interpret"),
    ],
)
def test_unsafe_or_short_secrets_are_refused(value: str, why: str) -> None:
    with pytest.raises(SigningSecretsError, match=why):
        usable_secrets(_secrets(("k", value, None)), now=NOW)


def test_all_secrets_expired_is_refused() -> None:
    with pytest.raises(SigningSecretsError, match="every signing secret has expired"):
        usable_secrets(_secrets(("k", GOOD, NOW)), now=NOW)


def test_tls_and_ktls_sections(tmp_path: Path) -> None:
    settings = _settings(tmp_path, https_port=8443)
    conf = (_render(tmp_path, settings, tls=True, ktls=True) / "nginx.conf").read_text()
    assert "listen 0.0.0.0:8443 ssl reuseport;" in conf
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert "ssl_conf_command Options KTLS;" in conf
    (tmp_path / "p").mkdir()
    plain = (_render(tmp_path / "p", settings, tls=True, ktls=False) / "nginx.conf").read_text()
    assert "KTLS" not in plain


def test_origin_fallback_section(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        miss={"mode": MissMode.ORIGIN_FALLBACK, "origin_url": "http://origin.example:9000/base/"},
    )
    out = _render(tmp_path, settings)
    conf = (out / "nginx.conf").read_text()
    assert "proxy_pass http://origin.example:9000;" in conf
    assert "rewrite ^ /base/$edgefill_object break;" in conf
    assert "proxy_cache_lock on;" in conf and "slice 1m;" in conf
    assert "@origin_fallback" in (out / "edgefill" / "signed-content.conf").read_text()
    assert "proxy_ssl_verify" not in conf  # plain http origin


def test_https_origin_is_verified(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, miss={"mode": MissMode.ORIGIN_FALLBACK, "origin_url": "https://origin.example/"}
    )
    conf = (_render(tmp_path, settings) / "nginx.conf").read_text()
    assert "proxy_pass https://origin.example;" in conf
    assert "proxy_ssl_verify on;" in conf and "proxy_ssl_server_name on;" in conf
    assert "proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;" in conf


def test_fallback_needs_an_origin() -> None:
    with pytest.raises(ValidationError, match="origin_url is not set"):
        ServeSettings.model_validate({"miss": {"mode": "origin-fallback"}})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"https_port": 0, "http_port": None}, "serve nothing"),
        ({"https_port": 8081}, "must differ"),
        ({"threaded_io_extensions": ["mp4|.*"]}, "pattern"),
    ],
)
def test_settings_refuse_bad_combinations(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServeSettings.model_validate(overrides)


def test_zero_turns_optional_values_off() -> None:
    settings = ServeSettings.model_validate(
        {"https_port": 0, "http_port": 80, "worker_rlimit_nofile": 0}
    )
    assert (settings.https_port, settings.worker_rlimit_nofile) == (None, None)


def test_broken_template_is_reported(tmp_path: Path) -> None:
    templates = tmp_path / "templates" / "etc" / "nginx"
    templates.mkdir(parents=True)
    (templates / "nginx.conf.j2").write_text("events {}\n{% if %}\n")
    settings = _settings(tmp_path, template_dir=tmp_path / "templates")
    with pytest.raises(TemplateRenderError, match=r"nginx\.conf\.j2 failed to render"):
        _render(tmp_path, settings)


def test_missing_template_dir_is_reported(tmp_path: Path) -> None:
    settings = _settings(tmp_path, template_dir=tmp_path / "nowhere")
    with pytest.raises(TemplateRenderError, match=r"no nginx\.conf\.j2"):
        _render(tmp_path, settings)
