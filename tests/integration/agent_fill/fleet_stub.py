"""A small real fleet API on loopback for one appliance: its manifest's location (ETag, 304,
auth), the manifest body at that location, and origin URLs for fills.

The real fleet service is built elsewhere; this speaks the same contract over real HTTP so
the agent's client is tested against a socket, not a mock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edgefill_contracts import ApplianceCredential
from edgefill_contracts.fleet_api import ManifestLocation, OriginUrlRequest, appliance_path
from tests.support.manifests import BuiltManifest

BODY_PREFIX = "/bodies/"


@dataclass
class FleetStub:
    credential: ApplianceCredential
    body: bytes = b""
    version: str = ""
    origin_urls: dict[str, str] = field(default_factory=dict)
    port: int = 0
    # Statuses of the manifest (location) route only, in order.
    statuses: list[int] = field(default_factory=list)
    origin_requests: list[list[str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def serve(self, built: BuiltManifest) -> None:
        self.serve_body(built.body, version=built.manifest.version)
        self.origin_urls = dict(built.origin_urls)

    def serve_body(self, body: bytes, *, version: str) -> None:
        """Serve `body` as manifest `version` (a hostile or broken body included)."""
        self.body = body
        self.version = version

    def location(self) -> ManifestLocation:
        return ManifestLocation(
            version=self.version,
            url=f"{self.base_url}{BODY_PREFIX}{self.version}.jsonl.gz",
            size=len(self.body),
            sha256=hashlib.sha256(self.body).hexdigest(),
            expires_at=datetime.now(UTC) + timedelta(minutes=15),
        )


def _handler(stub: FleetStub) -> type[BaseHTTPRequestHandler]:
    manifest_path = appliance_path(stub.credential.appliance_id, "manifest")
    origin_path = appliance_path(stub.credential.appliance_id, "origin-urls")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith(BODY_PREFIX):
                if self.path == f"{BODY_PREFIX}{stub.version}.jsonl.gz":
                    self._answer(200, stub.body, "application/gzip")
                else:
                    self._answer(404)
                return
            status = self._manifest_status()
            stub.statuses.append(status)
            if status == 200:
                self._answer(200, stub.location().model_dump_json().encode(), etag=stub.etag)
            else:
                self._answer(status)

        def do_POST(self) -> None:
            if self.path != origin_path:
                self._answer(404)
                return
            if not self._authorized():
                self._answer(401)
                return
            length = int(self.headers.get("Content-Length", "0"))
            request = OriginUrlRequest.model_validate_json(self.rfile.read(length))
            stub.origin_requests.append(list(request.keys))
            answer = {
                "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "urls": {k: stub.origin_urls[k] for k in request.keys if k in stub.origin_urls},
            }
            self._answer(200, json.dumps(answer).encode())

        def _manifest_status(self) -> int:
            if self.path != manifest_path:
                return 404
            if not self._authorized():
                return 401
            if self.headers.get("If-None-Match") == stub.etag:
                return 304
            return 200

        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == stub.credential.authorization_header()

        def _answer(
            self,
            status: int,
            body: bytes = b"",
            content_type: str = "application/json",
            etag: str | None = None,
        ) -> None:
            self.send_response(status)
            if etag is not None:
                self.send_header("ETag", etag)
            if body:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@contextmanager
def fleet_stub(credential: ApplianceCredential) -> Iterator[FleetStub]:
    stub = FleetStub(credential=credential)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
