"""Render the nginx config tree from the Jinja2 templates under templates/etc/nginx/.

Templates mirror the target tree: `templates/etc/nginx/nginx.conf.j2` becomes `nginx.conf`,
`edgefill/signing-secrets.map.j2` becomes `edgefill/signing-secrets.map`; files without `.j2`
are copied as they are. The rendered tree is self-contained (includes are relative to it), so
`nginx -t -c <tree>/nginx.conf` checks exactly what will run.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from appliance_agent import USER_AGENT_PRODUCT
from appliance_agent.serve.errors import SigningSecretsError, TemplateRenderError
from appliance_agent.serve.log_format import LOG_FORMAT, LOG_FORMAT_NAME
from appliance_agent.serve.settings import MissMode, ServeSettings
from edgefill_contracts import SigningSecretSet

logger = logging.getLogger(__name__)

TEMPLATE_ROOT = Path("etc") / "nginx"
# What may stand inside a double-quoted nginx string without meaning anything else to nginx.
_NGINX_SAFE_SECRET = re.compile(r"^[A-Za-z0-9._~+/=:@%^,-]{16,256}$")


@dataclass(frozen=True)
class RenderedSecret:
    secret_id: str
    value: str


@dataclass(frozen=True)
class OriginTarget:
    """The origin fallback split the way proxy_pass and rewrite need it."""

    scheme_and_authority: str
    host_header: str
    path_prefix: str


def usable_secrets(secrets: SigningSecretSet, *, now: datetime) -> list[RenderedSecret]:
    """The secrets nginx should accept now (not past `not_after`), each checked as safe to quote."""
    usable: list[RenderedSecret] = []
    for secret in secrets.secrets:
        if secret.not_after is not None and secret.not_after <= now:
            logger.info(
                "signing secret %s expired at %s; not rendered", secret.secret_id, secret.not_after
            )
            continue
        value = secret.secret.get_secret_value()
        if not _NGINX_SAFE_SECRET.match(value):
            raise SigningSecretsError(
                f"signing secret {secret.secret_id!r} is shorter than 16 characters or holds "
                "characters nginx would interpret ($, quotes, spaces); ask the control plane to "
                "issue secrets of [A-Za-z0-9._~+/=:@%^,-] only"
            )
        usable.append(RenderedSecret(secret_id=secret.secret_id, value=value))
    if not usable:
        raise SigningSecretsError(
            "every signing secret has expired, so nginx would refuse every URL; fetch the "
            "current set from the control plane (GET .../signing-secrets) and render again"
        )
    return usable


def _origin_target(settings: ServeSettings) -> OriginTarget | None:
    if settings.miss.mode is not MissMode.ORIGIN_FALLBACK or settings.miss.origin_url is None:
        return None
    url = settings.miss.origin_url
    authority = url.host or ""
    if url.port is not None and (url.scheme, url.port) not in (("http", 80), ("https", 443)):
        authority = f"{authority}:{url.port}"
    return OriginTarget(
        scheme_and_authority=f"{url.scheme}://{authority}",
        host_header=authority,
        path_prefix=(url.path or "").rstrip("/"),
    )


def _nginx_string(value: str) -> str:
    if not _NGINX_SAFE_SECRET.match(value):
        raise TemplateRenderError("refusing to quote a value nginx would interpret")
    return f'"{value}"'


def _environment(template_dir: Path) -> jinja2.Environment:
    # bandit B701: renders nginx config, not HTML; values are validated and quoted by nginx_string.
    env = jinja2.Environment(  # nosec B701
        loader=jinja2.FileSystemLoader(template_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # nginx config, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["nginx_string"] = _nginx_string
    return env


def render_tree(
    settings: ServeSettings,
    *,
    secrets: SigningSecretSet,
    destination: Path,
    tls_enabled: bool,
    ktls_enabled: bool,
    now: datetime,
) -> None:
    """Render every template into `destination` (created, must not exist); files are 0600."""
    source_root = settings.template_dir / TEMPLATE_ROOT
    if not (source_root / "nginx.conf.j2").is_file():
        raise TemplateRenderError(
            f"no nginx.conf.j2 under {source_root}: the template directory is incomplete; "
            "reinstall the agent or point serve.template_dir at a full template tree"
        )
    context = {
        "s": settings,
        "secrets": usable_secrets(secrets, now=now),
        "tls": tls_enabled,
        "ktls": tls_enabled and ktls_enabled,
        "fallback": _origin_target(settings) is not None,
        "origin": _origin_target(settings),
        "log_format": LOG_FORMAT,
        "log_format_name": LOG_FORMAT_NAME,
        "agent_product": USER_AGENT_PRODUCT,
    }
    env = _environment(settings.template_dir)
    destination.mkdir(mode=0o700, parents=False, exist_ok=False)
    for source in sorted(source_root.rglob("*")):
        if source.is_dir():
            continue
        relative = source.relative_to(source_root)
        target = destination / relative
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if source.suffix == ".j2":
            target = target.with_suffix("")
            name = (TEMPLATE_ROOT / relative).as_posix()
            try:
                text = env.get_template(name).render(context)
            except jinja2.TemplateError as exc:
                raise TemplateRenderError(
                    f"template {name} failed to render: {exc}; fix the template, nothing was "
                    "installed and the live config keeps running"
                ) from exc
            _write_private(target, text)
        else:
            shutil.copyfile(source, target)
            os.chmod(target, 0o600)
    logger.info("rendered nginx config tree into %s", destination)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
