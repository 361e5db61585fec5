"""A small real fleet API on loopback serving one appliance's manifest (ETag, 304, auth).

The real fleet service is built elsewhere; this speaks the same contract over real HTTP so
the agent's client is tested against a socket, not a mock.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edgefill_contracts import ApplianceCredential
from edgefill_contracts.fleet_api import appliance_path


@dataclass
class FleetStub:
    credential: ApplianceCredential
    body: bytes = b""
    port: int = 0
    statuses: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    def serve(self, body: bytes) -> None:
        self.body = body


def _handler(stub: FleetStub) -> type[BaseHTTPRequestHandler]:
    path = appliance_path(stub.credential.appliance_id, "manifest")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = self._status()
            stub.statuses.append(status)
            self.send_response(status)
            if status == 200:
                self.send_header("ETag", stub.etag)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                self.wfile.write(stub.body)
            else:
                self.send_header("Content-Length", "0")
                self.end_headers()

        def _status(self) -> int:
            if self.path != path:
                return 404
            if self.headers.get("Authorization") != stub.credential.authorization_header():
                return 401
            if self.headers.get("If-None-Match") == stub.etag:
                return 304
            return 200

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
