"""HTTPS with a certificate from the fleet CA: TLS 1.2/1.3 only, renewal, and ffmpeg playback."""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from appliance_agent.fleet_client import FleetClient
from appliance_agent.serve.errors import CertificateError
from appliance_agent.serve.settings import TlsSettings, TlsSource
from appliance_agent.serve.tls import CertificateManager, certificate_not_after
from edgefill_contracts import ApplianceCredential
from edgefill_contracts.signing import rendition_base_path
from tests.integration.agent_serve.appliance_nginx import (
    SECRET,
    SECRET_ID,
    RunningAppliance,
    appliance_settings,
    free_port,
    run_appliance,
)
from tests.integration.agent_serve.fleet_server import FleetState, RunningFleet, run_fleet

pytestmark = pytest.mark.nginx

FFMPEG_TIMEOUT_S = 60


@pytest.fixture
def fleet() -> Iterator[RunningFleet]:
    state = FleetState(appliance_id="appliance-1", bootstrap_token="t", secrets={})
    yield from run_fleet(state)


@pytest.fixture
def fleet_client(fleet: RunningFleet) -> Iterator[FleetClient]:
    credential = ApplianceCredential(
        appliance_id="appliance-1",
        credential_id="cred-1",
        secret=SecretStr(fleet.state.credential_secret),
    )
    with FleetClient(base_url=fleet.url, credential=credential, timeout_s=5) as client:
        yield client


@dataclass
class HttpsAppliance:
    appliance: RunningAppliance
    certificates: CertificateManager
    ca_file: Path


@pytest.fixture
def https_appliance(
    tmp_path: Path, fleet: RunningFleet, fleet_client: FleetClient
) -> Iterator[HttpsAppliance]:
    tls = TlsSettings(
        source=TlsSource.FLEET,
        certificate_path=tmp_path / "tls" / "appliance.crt",
        key_path=tmp_path / "tls" / "appliance.key",
        renew_before_s=3600,
    )
    settings = appliance_settings(tmp_path / "appliance", https_port=free_port(), tls=tls)
    certificates = CertificateManager(tls, appliance_id="appliance-1", issuer=fleet_client)
    assert certificates.ensure(now=datetime.now(UTC)) is True
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(fleet.state.ca.pem)
    for running in run_appliance(settings):
        yield HttpsAppliance(appliance=running, certificates=certificates, ca_file=ca_file)


def _context(ca_file: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = context.maximum_version = version
    return context


def test_serves_tls_13_and_12_with_the_fleet_certificate(https_appliance: HttpsAppliance) -> None:
    running = https_appliance.appliance
    (running.settings.objects_dir / "title-1" / "a").mkdir(parents=True)
    (running.settings.objects_dir / "title-1" / "a" / "s.ts").write_bytes(b"over tls")
    url = running.url("title-1/a/s.ts")
    assert url.startswith("https://")
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        with httpx.Client(verify=_context(https_appliance.ca_file, version)) as client:
            response = client.get(url, timeout=5)
            assert response.content == b"over tls"


def test_tls_11_is_refused_by_the_server(https_appliance: HttpsAppliance) -> None:
    # SECLEVEL=0 lets the client offer TLS 1.1, so the refusal seen is the server's alert.
    port = https_appliance.appliance.settings.https_port
    probe = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_1",
         "-cipher", "DEFAULT:@SECLEVEL=0"],
        input="", capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert probe.returncode != 0
    assert "alert protocol version" in probe.stdout + probe.stderr


def test_key_is_private_and_renewal_issues_a_new_certificate(
    https_appliance: HttpsAppliance, fleet: RunningFleet
) -> None:
    tls = https_appliance.certificates.settings
    assert stat.S_IMODE(os.stat(tls.key_path).st_mode) == 0o600
    not_after = certificate_not_after(tls.certificate_path)
    manager = https_appliance.certificates
    assert manager.ensure(now=datetime.now(UTC)) is False  # valid two days: nothing to do
    assert fleet.state.certificates_issued == 1

    near_expiry = not_after - timedelta(minutes=30)  # inside renew_before_s (1 h)
    old_key = tls.key_path.read_bytes()
    assert manager.ensure(now=near_expiry) is True
    assert fleet.state.certificates_issued == 2
    assert tls.key_path.read_bytes() != old_key  # a fresh key each time
    # Re-render and reload: nginx now presents the new certificate.
    https_appliance.appliance.install()
    context = ssl.create_default_context(cafile=str(https_appliance.ca_file))
    with httpx.Client(verify=context) as client:
        assert client.get(https_appliance.appliance.base_url + "/", timeout=5).status_code == 404


def test_files_source_refuses_a_key_others_can_read(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=x", "-days", "2"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    manager = CertificateManager(
        TlsSettings(source=TlsSource.FILES, certificate_path=cert, key_path=key),
        appliance_id="a",
        issuer=None,
    )
    os.chmod(key, 0o644)
    with pytest.raises(CertificateError, match="chmod 600"):
        manager.ensure(now=datetime.now(UTC))
    os.chmod(key, 0o600)
    assert manager.ensure(now=datetime.now(UTC)) is False
    with pytest.raises(CertificateError, match="expired"):
        manager.ensure(now=datetime.now(UTC) + timedelta(days=3))


def _make_hls(directory: Path) -> None:
    directory.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
         "-i", "testsrc=duration=4:size=320x240:rate=25", "-c:v", "libx264",
         "-preset", "ultrafast", "-g", "25", "-f", "hls", "-hls_time", "1",
         "-hls_playlist_type", "vod", "-hls_segment_filename", str(directory / "seg_%03d.ts"),
         str(directory / "index.m3u8")],
        check=True, capture_output=True, timeout=FFMPEG_TIMEOUT_S,
    )  # fmt: skip


def _served_objects(running: RunningAppliance, *, minimum: int) -> set[str]:
    """Objects nginx logged as served, 200 or 206 (ffmpeg asks `Range: bytes=0-`); the log is
    flushed every second, so wait up to 5 s."""
    deadline = time.monotonic() + 5
    served: set[str] = set()
    while time.monotonic() < deadline:
        lines = running.settings.access_log.read_text().splitlines()
        records = [json.loads(line) for line in lines]
        served = {r["object"] for r in records if r["status"] in (200, 206)}
        if len(served) >= minimum:
            break
        time.sleep(0.2)
    return served


def test_ffmpeg_plays_a_title_from_a_signed_https_url(https_appliance: HttpsAppliance) -> None:
    running = https_appliance.appliance
    _make_hls(running.settings.objects_dir / "title-hls" / "240p")
    segments = sorted(
        p.name for p in (running.settings.objects_dir / "title-hls" / "240p").glob("*.ts")
    )
    assert len(segments) >= 4
    expires = int(time.time()) + 3600
    base = rendition_base_path(
        secret_id=SECRET_ID, secret=SECRET, title="title-hls", rendition="240p", expires=expires
    )
    playlist = f"{running.base_url}{base}index.m3u8"
    played = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-stats",
         "-ca_file", str(https_appliance.ca_file), "-tls_verify", "1",
         "-i", playlist, "-map", "0:v", "-f", "null", "-"],
        capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S,
    )  # fmt: skip
    assert played.returncode == 0, played.stderr[-2000:]
    frames = [int(n) for n in re.findall(r"frame=\s*(\d+)", played.stderr)]
    assert frames and frames[-1] >= 95  # 4 s at 25 fps
    served = _served_objects(running, minimum=len(segments) + 1)
    assert {f"title-hls/240p/{name}" for name in segments} <= served
    # Every segment came through nginx with the playlist's token, and a token for another
    # rendition opens none of them.
    other = rendition_base_path(
        secret_id=SECRET_ID, secret=SECRET, title="title-hls", rendition="720p", expires=expires
    )
    wrong = f"{running.base_url}{other.replace('/720p/', '/240p/')}{segments[0]}"
    with httpx.Client(
        verify=ssl.create_default_context(cafile=str(https_appliance.ca_file))
    ) as client:
        assert client.get(wrong, timeout=5).status_code == 403
