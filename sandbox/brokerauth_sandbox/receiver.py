"""A webhook endpoint on loopback that keeps what it is sent: what a notifier's tests (and the
``webhook`` fixture of :mod:`brokerauth_sandbox.pytest_plugin`) deliver events to."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver(ThreadingHTTPServer):
    """Started with :meth:`start`; ``events`` holds each JSON body POSTed to it, in order."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__((host, 0), _Handler)

    @property
    def url(self) -> str:
        """Its address, with a path a real webhook would keep secret."""
        return f"http://127.0.0.1:{self.server_address[1]}/hook/s3cr3t-path"

    def kinds(self) -> list[str]:
        with self.lock:
            return [event.get("event", "") for event in self.events]

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(min(length, 65536)) or b"{}")
        with self.server.lock:
            self.server.events.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass
