"""The manifest cache keeps the body as downloaded, and forgets a head without its manifest."""

from __future__ import annotations

from pathlib import Path

from appliance_agent.manifest_cache import HEAD_FILE_NAME, MANIFEST_FILE_NAME, ManifestCache
from tests.support.manifests import File, manifest_of


def _body(version: str) -> bytes:
    return manifest_of([File(key="t/r/a", size=1, sha256="a" * 64)], version=version).body


def test_a_saved_manifest_loads_with_its_etag(tmp_path: Path) -> None:
    cache = ManifestCache(tmp_path)
    body = _body("v1")
    cache.save(etag='"v1"', version="v1", body=body)
    loaded = cache.load()
    assert loaded is not None and (loaded.etag, loaded.manifest.version) == ('"v1"', "v1")
    assert (tmp_path / MANIFEST_FILE_NAME).read_bytes() == body


def test_an_agent_upgraded_from_the_old_cache_fetches_in_full(tmp_path: Path) -> None:
    # Schema 1's cache: manifest.json and a head naming its version.
    (tmp_path / "manifest.json").write_text('{"schema_version": 1}')
    (tmp_path / HEAD_FILE_NAME).write_text('{"etag": "\\"v0\\"", "version": "v0"}')
    cache = ManifestCache(tmp_path)
    assert cache.head() is not None
    assert cache.load() is None
    assert cache.head() is None, "no ETag left to turn the next fetch into a 304"
    cache.save(etag='"v1"', version="v1", body=_body("v1"))
    assert not (tmp_path / "manifest.json").exists()


def test_a_corrupt_cached_body_is_forgotten_with_its_head(tmp_path: Path) -> None:
    cache = ManifestCache(tmp_path)
    cache.save(etag='"v1"', version="v1", body=_body("v1")[:-9])
    assert cache.load() is None and cache.head() is None
