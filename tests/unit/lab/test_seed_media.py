"""The seeder: real HLS from ffmpeg, uploaded with sizes and hashes the manifests can trust."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import boto3
import pytest

from control_plane.catalog.store import CatalogStore
from control_plane.common.settings import ServiceSettings
from lab.client import media_parts
from lab.seed.cli import main
from lab.seed.media import LADDER, MediaError, describe_media, encode_rendition
from lab.seed.upload import seed_catalog


def test_encoding_is_cached_by_content_key(tmp_path: Path) -> None:
    first = encode_rendition(variant=1, profile=LADDER[0], duration_s=4, cache_dir=tmp_path)
    again = encode_rendition(variant=1, profile=LADDER[0], duration_s=4, cache_dir=tmp_path)
    other = encode_rendition(variant=2, profile=LADDER[0], duration_s=4, cache_dir=tmp_path)
    assert [f.path for f in first] == [f.path for f in again]
    assert first[0].path.parent != other[0].path.parent
    # One fragmented MP4 per rendition, addressed by byte range: init section, then 2 s fragments.
    assert [f.name for f in first] == ["index.m3u8", "media.mp4"]
    playlist = first[0].path.read_text()
    parts = media_parts(playlist)
    assert playlist.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in playlist
    assert [p.uri for p in parts] == ["media.mp4"] * 3 and parts[0].is_init
    media = first[1].path.read_bytes()
    init = parts[0].byte_range
    assert init is not None and media[4:8] == b"ftyp" and b"moov" in media[: init[1]]
    # The global sidx sits between the init section and the first fragment: DASH's indexRange.
    index = describe_media(first[1].path)
    start, end = index.index_range
    assert init == (0, start) and media[start + 4 : start + 8] == b"sidx"
    spans = [p.byte_range for p in parts[1:]]
    assert all(r is not None for r in spans)
    offsets = [r for r in spans if r is not None]
    assert offsets[0][0] == end + 1
    for (offset, length), (following, _) in itertools.pairwise(offsets):
        assert offset + length == following  # contiguous, whole fragments
    for offset, _ in offsets:
        assert media[offset + 4 : offset + 8] == b"moof"
    assert index.codecs.startswith("avc1.") and index.duration_s == pytest.approx(4.0)


def test_missing_ffmpeg_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lab.seed.media.shutil.which", lambda _: None)
    with pytest.raises(MediaError, match=r"bootstrap\.sh"):
        encode_rendition(variant=3, profile=LADDER[0], duration_s=2, cache_dir=tmp_path)


def test_seed_uploads_media_and_records_size_and_sha256(
    stack: ServiceSettings, tmp_path: Path
) -> None:
    seeded = seed_catalog(stack, titles=2, duration_s=2, cache_dir=tmp_path)
    s3 = boto3.client("s3", region_name=stack.aws_region, endpoint_url=stack.aws_endpoint_url)
    store = CatalogStore.from_settings(stack)
    assert [t.title_id for t in seeded] == ["title-0001", "title-0002"]
    for title in seeded:
        assert store.get(title.title_id) == title
        assert [r.name for r in title.renditions] == [p.name for p in LADDER]
        for rendition in title.renditions:
            assert rendition.playlist == f"{title.title_id}/{rendition.name}/index.m3u8"
            assert rendition.codecs is not None and rendition.codecs.startswith("avc1.")
            assert rendition.single_file is not None
            assert rendition.single_file.media == f"{title.title_id}/{rendition.name}/media.mp4"
            for media_file in rendition.files:
                body = s3.get_object(Bucket=stack.origin_bucket, Key=media_file.key)["Body"].read()
                assert len(body) == media_file.size
                assert hashlib.sha256(body).hexdigest() == media_file.sha256


def test_cli_refuses_out_of_range_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--titles", "0"])
    assert raised.value.code == 2
    assert "--titles must be" in capsys.readouterr().err


def test_cli_seeds_the_stack_named_by_the_environment(
    stack: ServiceSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for field in ("aws_endpoint_url", "name_prefix", "origin_bucket", "environment"):
        monkeypatch.setenv(f"EDGEFILL_{field.upper()}", str(getattr(stack, field)))
    code = main(["--titles", "1", "--duration", "2", "--cache-dir", str(tmp_path)])
    assert code == 0
    assert capsys.readouterr().out.startswith("title-0001  ")
    assert CatalogStore.from_settings(stack).get("title-0001").renditions
