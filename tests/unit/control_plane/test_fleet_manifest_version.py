"""A manifest's version: content, ranked peers and their secret ids count; tokens do not."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.manifests.builder import ORIGIN_SOURCE, content_version
from edgefill_contracts.manifest import ManifestSource, ManifestTitle, ManifestUnit

OPENS = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
PEER = ManifestSource(name="p1", kind="appliance", base_url="https://10.0.0.11/", secret_id="k1")


def title(*sources: int, token: str = "a" * 22, size: int = 10) -> ManifestTitle:
    return ManifestTitle(
        title="title-1",
        tokens={"k1": token},
        units=(
            ManifestUnit(
                rendition="240p", sources=sources, files=(("stream.mp4", size, "a" * 64),)
            ),
        ),
    )


def test_new_tokens_keep_the_version() -> None:
    one = content_version(
        [title(0, 1, token="a" * 22)], [PEER, ORIGIN_SOURCE], 100, fill_opens=OPENS
    )
    two = content_version(
        [title(0, 1, token="b" * 22)], [PEER, ORIGIN_SOURCE], 100, fill_opens=OPENS
    )
    assert one == two


def test_a_peer_that_now_holds_the_unit_changes_the_version() -> None:
    alone = content_version([title(0)], [ORIGIN_SOURCE], 100, fill_opens=OPENS)
    with_peer = content_version([title(0, 1)], [PEER, ORIGIN_SOURCE], 100, fill_opens=OPENS)
    assert alone != with_peer


def test_a_peer_asked_with_another_secret_changes_the_version() -> None:
    rotated = PEER.model_copy(update={"secret_id": "k2"})
    one = content_version([title(0, 1)], [PEER, ORIGIN_SOURCE], 100, fill_opens=OPENS)
    two = content_version([title(0, 1)], [rotated, ORIGIN_SOURCE], 100, fill_opens=OPENS)
    assert one != two


def test_content_budget_and_window_change_the_version() -> None:
    base = content_version([title(0)], [ORIGIN_SOURCE], 100, fill_opens=OPENS)
    assert base != content_version([title(0, size=11)], [ORIGIN_SOURCE], 100, fill_opens=OPENS)
    assert base != content_version([title(0)], [ORIGIN_SOURCE], 101, fill_opens=OPENS)
    later = OPENS.replace(day=27)
    assert base != content_version([title(0)], [ORIGIN_SOURCE], 100, fill_opens=later)
