"""A client that hangs up on a sandbox (a size cap refusing a huge answer, a deadline cutting
a slow one) is what tests do on purpose: the sandbox prints no traceback for it."""

from __future__ import annotations

import socket
import struct
import time
import urllib.request

import pytest
from brokerauth_sandbox.server import RecordingServer


def test_a_client_resetting_its_connection_prints_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    server = RecordingServer()
    server.start()
    try:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                sock.recv(1)  # the answer has begun: the handler waits for the next request
                # RST instead of FIN: the handler's next read meets ECONNRESET
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The server still answers, and had time to meet each reset.
        give_up = time.monotonic() + 5
        while len(server.seen) < 5 and time.monotonic() < give_up:
            time.sleep(0.01)
        with urllib.request.urlopen(f"{server.base_url}/after", timeout=5) as answer:  # noqa: S310
            assert answer.status == 200
    finally:
        server.stop()
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert "ConnectionResetError" not in err
