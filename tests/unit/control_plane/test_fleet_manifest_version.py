"""A manifest's version: peers ranked before the origin count, the presigned origin URL does not."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.fleet.manifests import content_version
from edgefill_contracts import ManifestObject

OPENS = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def obj(*sources: str) -> ManifestObject:
    return ManifestObject(
        key="title-1/240p/seg_1.ts", size=10, sha256="a" * 64, sources=list(sources)
    )


def test_a_new_origin_signature_keeps_the_version() -> None:
    one = content_version([obj("http://origin/o?sig=1")], 100, fill_opens=OPENS)
    two = content_version([obj("http://origin/o?sig=2")], 100, fill_opens=OPENS)
    assert one == two


def test_a_peer_that_now_holds_the_object_changes_the_version() -> None:
    alone = content_version([obj("http://origin/o?sig=1")], 100, fill_opens=OPENS)
    with_peer = content_version(
        [obj("https://10.0.0.11/t/k/tok/1/title-1/240p/seg_1.ts", "http://origin/o?sig=2")],
        100,
        fill_opens=OPENS,
    )
    assert alone != with_peer
