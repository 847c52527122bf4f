"""A loopback HTTP/1.1 server for the session benchmark, run in its own process.

The standard library's threading ``http.server``, one thread per keep-alive connection, answers
every GET with the same 1 KiB JSON document and checks nothing (no signature, no token): the
benchmark measures the client's cost, and both clients — brokerauth's session and raw urllib3 —
get exactly the same answer.  It runs in a separate process so that its work never competes
with the measured client for the GIL.  Each answer is written in one piece with Nagle's
algorithm off, so no client waits on delayed ACKs.

It prints the port it listens on, then serves until its standard input closes.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAYLOAD = json.dumps(
    {"data": [{"account_id": f"ACC{i:05d}", "currency": "USD", "net_liquidation": "1024.50",
               "buying_power": "2048.00", "status": "ACTIVE"} for i in range(8)]},
    separators=(",", ":"),
).encode()
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(PAYLOAD)}\r\n".encode()
    + b"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\nConnection: keep-alive\r\n\r\n"
    + PAYLOAD
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.wfile.write(RESPONSE)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the parent closes it (or dies)
    server.shutdown()


if __name__ == "__main__":
    main()
