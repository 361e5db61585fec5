"""The scheduled URL-signing key rotation: each site whose newest key is older than
ROTATE_EVERY gets a new one, and its older keys expire after a grace longer than any URL the
edge accepts, so a scheduled rotation never breaks an issued URL.

The order that keeps every URL valid is the key store's and steering's: the new key is active
(distributed: acks name it, agents fetch it) at once; steering and the manifest job sign with
it only once every steered appliance of the site reports it; the old keys are retired only
after the grace. A site still on its derived seed key counts as due, so the first run after a
deploy moves every site to a random key.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from control_plane.common.settings import ServiceSettings
from control_plane.fleet.context import FleetContext
from control_plane.signing.key_store import (
    DEFAULT_GRACE,
    SigningSecretStore,
    by_site,
    site_key_sets,
)

logger = logging.getLogger(__name__)

ROTATE_EVERY = timedelta(days=30)


def run(settings: ServiceSettings) -> dict[str, object]:
    """Entry point of the scheduled job (ScheduledJob.function)."""
    context = FleetContext.from_settings(settings)
    site_ids = [s.site_id for s in context.store.sites.scan()]
    result = rotate_due(secrets=context.secrets, site_ids=site_ids, now=datetime.now(UTC))
    context.active_secrets.invalidate()
    return result


def rotate_due(
    *,
    secrets: SigningSecretStore,
    site_ids: list[str],
    now: datetime,
    every: timedelta = ROTATE_EVERY,
    grace: timedelta = DEFAULT_GRACE,
) -> dict[str, object]:
    """Rotate every site of `site_ids` whose newest active key is `every` old (or that has
    none); one site that fails is logged and reported, the others go on. Returns the sites
    rotated, those not due, and the failures (site -> reason)."""
    stored = by_site(secrets.stored())  # one scan for every site
    current = site_key_sets(stored, site_ids, now=now, seed=secrets)
    rotated: list[str] = []
    failed: dict[str, str] = {}
    not_due = 0
    for site_id in site_ids:
        keys = current.get(site_id, [])
        if keys and now - keys[0].created_at < every:
            not_due += 1
            continue
        try:
            secrets.rotate(site_id, now=now, grace=grace, stored=stored.get(site_id, []))
        except Exception as exc:
            logger.exception("key rotation: site %s failed; carrying on", site_id)
            failed[site_id] = f"{type(exc).__name__}: {exc}"
            continue
        rotated.append(site_id)
    if rotated:
        logger.info("key rotation: rotated %d sites: %s", len(rotated), rotated[:20])
    return {"rotated": rotated, "not_due": not_due, "failed": failed}
