"""A loopback HTTP/1.1 server for the session benchmark, run in its own process.

It answers every request with the same 1 KiB JSON document and checks nothing (no signature, no
token, not even the method): the benchmark measures the clients' cost, and every client —
brokerauth's session, raw urllib3, httpx with and without the adapter — gets exactly the same
answer.  It is one thread running a ``selectors`` loop over non-blocking keep-alive
connections, so that 16 clients at once cost it no thread switching, and it parses nothing but
the blank line that ends each request's headers (the benchmark sends no bodies).  It runs in
a separate process so that its work never competes with the measured client for the GIL.  Each
answer is written in one piece with Nagle's algorithm off, so no client waits on delayed ACKs.

It prints the port it listens on, then serves until its standard input closes.
"""

from __future__ import annotations

import json
import selectors
import socket
import sys

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
END = b"\r\n\r\n"


def main() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
    print(listener.getsockname()[1], flush=True)
    pending: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in selector.select():
            if key.data == "stdin":  # the parent closed it (or died): stop
                return
            if key.data is None:
                try:
                    connection, _ = listener.accept()
                except BlockingIOError:
                    continue
                connection.setblocking(False)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pending[connection] = b""
                selector.register(connection, selectors.EVENT_READ, "client")
                continue
            connection = key.fileobj  # type: ignore[assignment]
            try:
                data = connection.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                selector.unregister(connection)
                pending.pop(connection, None)
                connection.close()
                continue
            buffered = pending[connection] + data
            requests = buffered.count(END)
            if requests:
                buffered = buffered[buffered.rindex(END) + len(END):]
                # Answers are small: the socket's send buffer takes them whole.
                connection.sendall(RESPONSE * requests)
            pending[connection] = buffered


if __name__ == "__main__":
    main()
