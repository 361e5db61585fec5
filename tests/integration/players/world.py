"""A world standard players can play in: a seeded title with real media (CMAF, 3 renditions),
two appliances (real nginx, the agent's rendered config), the playback service on uvicorn
against moto, and a premium subscriber.

Steering reads a static fleet view (one site announcing loopback) that a test changes as the
snapshot would (drain, health); the appliances' nginx can be stopped for real.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from control_plane.catalog.models import Title
from control_plane.common.aws import s3
from control_plane.common.settings import ServiceSettings
from control_plane.playback.app import create_app
from control_plane.signing.keys import SigningKey
from edgefill_contracts import PlaybackResponse, PlaybackSessionLinks
from lab.player_page import serve_player_page
from lab.seed.media import default_cache_dir
from lab.seed.upload import seed_catalog
from tests.integration.agent_serve.appliance_nginx import (
    SECRET,
    SECRET_ID,
    RunningAppliance,
    appliance_settings,
    put_object,
    run_appliance,
)
from tests.integration.agent_serve.fleet_server import RunningApp, serve_app
from tests.support.playback_world import StaticFleet, Viewer, subscribed_viewer

TITLE_SECONDS = 24
STEERING_TTL_S = 2
ARTIFACTS = Path(os.environ.get("EDGEFILL_TEST_ARTIFACTS", "test-artifacts")) / "players"


@dataclass
class PlayerWorld:
    settings: ServiceSettings
    title: Title
    appliances: dict[str, RunningAppliance]
    fleet: StaticFleet
    api: RunningApp
    viewer: Viewer
    page_base: str

    def start(self) -> PlaybackSessionLinks:
        response = httpx.post(
            f"{self.api.url}/playback/start",
            json={"profile_id": self.viewer.profile_id, "title_id": self.title.title_id},
            headers=self.viewer.user.headers,
            timeout=10,
        )
        response.raise_for_status()
        links = PlaybackResponse.model_validate(response.json()).session
        assert links is not None
        return links

    def stop_appliance(self, appliance_id: str) -> None:
        """Stop its nginx at once (connections refused), as a box that dies mid-play."""
        self.appliances[appliance_id].nginx.stop(graceful=False)


def _copy_title(title: Title, media_root: Path, appliance: RunningAppliance) -> None:
    for rendition in title.renditions:
        for media in rendition.files:
            put_object(appliance.settings, media.key, (media_root / media.key).read_bytes())


@contextmanager
def player_world(stack: ServiceSettings, tmp_path: Path) -> Iterator[PlayerWorld]:
    # The machine's media cache: the title is encoded once per machine.
    (title,) = seed_catalog(
        stack, titles=1, duration_s=TITLE_SECONDS, cache_dir=default_cache_dir()
    )
    # The appliances hold exactly the origin's bytes.
    origin_copy = tmp_path / "origin"
    _download(stack, title, origin_copy)
    with ExitStack() as stack_of:
        appliances: dict[str, RunningAppliance] = {}
        for n in (1, 2):
            running = stack_of.enter_context(
                contextmanager(run_appliance)(appliance_settings(tmp_path / f"appliance-{n}"))
            )
            _copy_title(title, origin_copy, running)
            appliances[f"appliance-{n}"] = running
        fleet = StaticFleet(
            [title],
            appliances=[(name, a.base_url) for name, a in appliances.items()],
            key=SigningKey(
                secret_id=SECRET_ID,
                secret=SecretStr(SECRET),
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            prefix="127.0.0.0/8",
        )
        app = create_app(stack)
        app.state.playback = replace(app.state.playback, fleet=fleet, steering_ttl_s=STEERING_TTL_S)
        api = serve_app(app)
        stack_of.callback(api.stop)
        viewer = subscribed_viewer(stack, plan_id="premium")  # up to 360p: all three
        page_base = stack_of.enter_context(serve_player_page())
        yield PlayerWorld(
            settings=stack,
            title=title,
            appliances=appliances,
            fleet=fleet,
            api=api,
            viewer=viewer,
            page_base=page_base,
        )


def _download(settings: ServiceSettings, title: Title, root: Path) -> None:
    client = s3(settings)
    for rendition in title.renditions:
        for media in rendition.files:
            target = root / media.key
            target.parent.mkdir(parents=True, exist_ok=True)
            body = client.get_object(Bucket=settings.origin_bucket, Key=media.key)["Body"]
            with target.open("wb") as out:
                shutil.copyfileobj(body, out)
