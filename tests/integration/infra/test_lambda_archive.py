"""The Lambda archive: reproducible, complete, and importable by a clean interpreter.

Lambda runs arm64; this machine is x86_64. So the arm64 archive is checked for its contents
(every native module built for aarch64), and an archive built the same way for this host's
platform is imported and invoked in a clean interpreter (no site-packages, no repo on the path).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from control_plane.services import all_services
from infra.packaging import LAMBDA_PLATFORM, PROJECT_ROOT, build_lambda_archive

_libc, _glibc = platform.libc_ver()
HOST_PLATFORM = f"{platform.machine()}-manylinux_{_glibc.replace('.', '_')}"

# Runs inside the clean interpreter: import the entry module, answer /healthz for each service.
_INVOKE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import control_plane.lambda_entry as edgefill_lambda
results = {}
for name in json.loads(sys.argv[2]):
    os.environ["EDGEFILL_SERVICE"] = name
    edgefill_lambda._settings.cache_clear()
    edgefill_lambda._http_handler.cache_clear()
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": "/healthz", "rawQueryString": "",
        "headers": {"host": "api.example.com"}, "isBase64Encoded": False,
        "requestContext": {"http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1",
                                    "sourceIp": "192.0.2.1", "userAgent": "test"},
                           "stage": "$default", "requestId": "r", "accountId": "1", "apiId": "a",
                           "domainName": "api.example.com", "domainPrefix": "api",
                           "time": "25/Nov/2026:00:00:00 +0000", "timeEpoch": 0},
    }
    response = edgefill_lambda.handler(event, None)
    results[name] = [response["statusCode"], json.loads(response["body"])]
import fastapi, pydantic_core
results["_paths"] = [fastapi.__file__, pydantic_core.__file__, edgefill_lambda.__file__]
results["_site"] = [p for p in sys.path if "site-packages" in p]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def project_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen copy of what goes in the archive, so edits made meanwhile cannot leak in."""
    snapshot = tmp_path_factory.mktemp("project")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("control_plane", "edgefill_contracts"):
        shutil.copytree(PROJECT_ROOT / package, snapshot / package, ignore=skip)
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(PROJECT_ROOT / name, snapshot / name)
    return snapshot


@pytest.fixture(scope="module")
def host_archive(tmp_path_factory: pytest.TempPathFactory, project_snapshot: Path) -> Path:
    # Online, into a cache of its own: on a new machine this run is what fills uv's cache.
    return build_lambda_archive(
        out_dir=tmp_path_factory.mktemp("host"),
        python_platform=HOST_PLATFORM,
        project_root=project_snapshot,
        cache_dir=tmp_path_factory.mktemp("host-deps"),
    )


def test_the_archive_imports_and_serves_in_a_clean_interpreter(
    host_archive: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(host_archive) as archive:
        archive.extractall(tmp_path / "task")
    services = [spec.name for spec in all_services() if spec.has_app]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _INVOKE, str(tmp_path / "task"), json.dumps(services)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "EDGEFILL_ENVIRONMENT": "development",
            "EDGEFILL_AWS_REGION": "us-east-1",
            "PATH": "/usr/bin:/bin",
        },
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for name in services:
        assert results[name] == [200, {"service": results[name][1]["service"], "status": "ok"}]
    assert all(path.startswith(str(tmp_path / "task")) for path in results["_paths"])
    assert results["_site"] == []


def test_the_archive_is_reproducible(
    host_archive: Path, project_snapshot: Path, tmp_path: Path
) -> None:
    # A second install from scratch (its own dependency cache), offline: only from the wheels
    # uv cached while host_archive was built, so the same inputs must give the same bytes.
    again = build_lambda_archive(
        out_dir=tmp_path / "out",
        python_platform=HOST_PLATFORM,
        project_root=project_snapshot,
        offline=True,
        cache_dir=tmp_path / "deps",
    )
    assert (tmp_path / "deps").is_dir() and any((tmp_path / "deps").iterdir())
    assert (
        hashlib.sha256(again.read_bytes()).digest()
        == hashlib.sha256(host_archive.read_bytes()).digest()
    )


def test_the_arm64_archive_holds_aarch64_native_modules_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Wheels come from uv's cache when present; the first run on a machine downloads them.
    archive_path = build_lambda_archive(
        out_dir=tmp_path_factory.mktemp("arm64"), python_platform=LAMBDA_PLATFORM
    )
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
    native = [n for n in names if n.endswith(".so")]
    assert "pydantic_core/_pydantic_core.cpython-311-aarch64-linux-gnu.so" in native
    assert any(n.startswith("radix/") for n in native)  # py-radix, steering's C extension
    assert not [n for n in native if "x86_64" in n]
    # The lab's seeder, mocks and materializer, and the Pulumi program, never ship.
    assert not [n for n in names if n.startswith(("lab/", "infra/", "control_plane/seed/"))]
    assert {
        "control_plane/lambda_entry.py",
        "control_plane/services.py",
        "fastapi/__init__.py",
        "mangum/__init__.py",
    } <= set(names)
