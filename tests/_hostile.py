"""Hostile HTTP servers on 127.0.0.1 for the deadline and size tests: each connection is handed
to a *behaviour* that reads the request and answers as badly as it likes.

Every loop here is bounded (a byte count, a deadline, or the client closing), so a test that
fails cannot leave a thread trickling forever.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

#: No behaviour keeps a connection longer than this, whatever the client does.
CONNECTION_LIMIT = 15.0

Behaviour = Callable[["Connection"], None]


class Connection:
    """One accepted connection, with the helpers behaviours use."""

    def __init__(self, sock: socket.socket, server: HostileServer) -> None:
        self.sock = sock
        self.server = server
        self.started = time.monotonic()
        self._buffer = b""

    def expired(self) -> bool:
        return (self.server.stopping.is_set()
                or time.monotonic() - self.started > CONNECTION_LIMIT)

    def read_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        """The next request (method, target, lower-cased headers, body), or None at EOF."""
        while b"\r\n\r\n" not in self._buffer:
            data = self._recv()
            if not data:
                if not self.expired():
                    self.server.client_closed.set()
                return None
            self._buffer += data
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(self._buffer) < length:
            data = self._recv()
            if not data:
                return None
            self._buffer += data
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return method, target, headers, body

    def _recv(self) -> bytes:
        while not self.expired():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if ready:
                try:
                    return self.sock.recv(65536)
                except OSError:
                    return b""
        return b""

    def send(self, data: bytes) -> bool:
        """Send all of ``data``; False once the client has gone."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.server.client_closed.set()
            return False

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the client closes first; False if it did."""
        end = time.monotonic() + seconds
        while not self.expired():
            left = end - time.monotonic()
            if left <= 0:
                return True
            ready, _, _ = select.select([self.sock], [], [], min(left, 0.1))
            if ready:
                try:
                    data = self.sock.recv(65536, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    self.server.client_closed.set()
                    return False
                # The client sent more (a pipelined request): leave it, keep pausing.
                time.sleep(min(left, 0.05))
        return False

    def trickle(self, data: bytes, every: float) -> bool:
        """Send ``data`` one byte at a time, ``every`` seconds apart; False if the client went."""
        for i in range(len(data)):
            if not self.send(data[i:i + 1]) or not self.pause(every):
                return False
        return True

    def wait_for_close(self) -> None:
        """Hold the connection until the client closes it (or the connection limit)."""
        while not self.expired():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if ready:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.server.client_closed.set()
                    return


class HostileServer:
    """A threaded loopback server; ``behaviour`` runs once per connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        #: Set when a behaviour saw the client close its connection.
        self.client_closed = threading.Event()
        self.connections = 0
        self.requests: list[tuple[str, str]] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.behaviour(Connection(sock, self))
        except OSError:
            self.client_closed.set()
        finally:
            sock.close()

    def close(self) -> None:
        self.stopping.set()
        self._acceptor.join(timeout=5)
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def each_request(answer: Callable[[Connection, str, str, dict[str, str], bytes], bool]
                 ) -> Behaviour:
    """A keep-alive behaviour: ``answer`` each request until it returns False or EOF."""

    def behaviour(connection: Connection) -> None:
        while True:
            request = connection.read_request()
            if request is None:
                return
            method, target, headers, body = request
            connection.server.requests.append((method, target))
            if not answer(connection, method, target, headers, body):
                return

    return behaviour


def head(status: int = 200, *headers: tuple[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {http.client.responses.get(status, 'X')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- behaviours ----------------------------------------------------------------------------

def trickling_body(every: float = 0.25, length: int = 100_000) -> Behaviour:
    """Headers at once (a Content-Length of ``length``), then the body a byte at a time."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        c.send(head(200, ("Content-Type", "application/json"), ("Content-Length", str(length))))
        c.trickle(b"{" + b" " * (length - 2) + b"}", every)
        return False

    return each_request(answer)


def trickling_chunks(every: float = 0.25) -> Behaviour:
    """A chunked body, one one-byte chunk at a time."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        c.send(head(200, ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")))
        for _ in range(1000):
            if not c.send(b"1\r\n \r\n") or not c.pause(every):
                return False
        return False

    return each_request(answer)


def trickling_headers(every: float = 0.2) -> Behaviour:
    """The status line, then one header line every ``every`` seconds, never ending."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        c.send(b"HTTP/1.1 200 OK\r\n")
        for i in range(90):  # under http.client's 100-header limit: the wait is what we test
            if not c.send(f"X-Slow-{i}: {i}\r\n".encode()) or not c.pause(every):
                return False
        return False

    return each_request(answer)


def trickling_status_line(every: float = 0.2) -> Behaviour:
    """The status line itself, one byte at a time."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        c.trickle(b"HTTP/1.1 200 OK" + b" " * 1000, every)
        return False

    return each_request(answer)


def never_reading() -> Behaviour:
    """Accepts the connection and never reads from it (the client's send fills the buffers)."""

    def behaviour(connection: Connection) -> None:
        connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        while not connection.expired():
            if not connection.pause(0.1):
                return

    return behaviour


def answering(body: bytes, *extra: tuple[str, str], chunked: bool = False,
              declared: int | None = None, pieces: int = 1, gap: float = 0.0) -> Behaviour:
    """A keep-alive server answering every request with ``body`` (as ``pieces`` writes
    ``gap`` seconds apart), framed by Content-Length (``declared`` if given) or chunked."""

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               _body: bytes) -> bool:
        framing = (("Transfer-Encoding", "chunked") if chunked
                   else ("Content-Length", str(len(body) if declared is None else declared)))
        if not c.send(head(200, ("Content-Type", "application/json"), framing, *extra)):
            return False
        step = max(1, -(-len(body) // pieces))
        for start in range(0, len(body), step):
            part = body[start:start + step]
            if not c.send(b"%x\r\n%b\r\n" % (len(part), part) if chunked else part):
                return False
            if gap and not c.pause(gap):
                return False
        if chunked and not c.send(b"0\r\n\r\n"):
            return False
        if declared is not None and declared != len(body):
            c.wait_for_close()
            return False
        return True

    return each_request(answer)


# -- a gzip bomb -----------------------------------------------------------------------------

def gzip_of_zeros(size: int) -> Iterator[bytes]:
    """A valid gzip stream of ``size`` zero bytes (a multiple of 1 MiB), as pieces, without
    compressing ``size`` bytes: after a full flush, deflate codes each further MiB of zeros to
    the same block, so the block is made once and repeated."""
    mib = 1 << 20
    assert size % mib == 0
    zeros = bytes(mib)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = deflate.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(size // mib):
        crc = zlib.crc32(zeros, crc)
    yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first
    for _ in range(size // mib - 1):
        yield block
    yield end + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little")


def gzip_bomb(pieces: list[bytes]) -> Behaviour:
    """Answers every request with the gzip stream ``pieces`` (Content-Encoding: gzip)."""
    length = sum(len(p) for p in pieces)

    def answer(c: Connection, method: str, target: str, headers: dict[str, str],
               body: bytes) -> bool:
        if not c.send(head(200, ("Content-Type", "application/json"),
                           ("Content-Encoding", "gzip"), ("Content-Length", str(length)))):
            return False
        return all(c.send(piece) for piece in pieces)

    return each_request(answer)


def forward(upstream: str, trickle: dict[str, Behaviour]) -> Behaviour:
    """A proxy to ``upstream`` (``host:port``) that hands a request whose path is in
    ``trickle`` to that behaviour's answer instead (the upstream never sees it)."""

    def behaviour(c: Connection) -> None:
        upstream_connection = http.client.HTTPConnection(upstream, timeout=10)
        try:
            while True:
                request = c.read_request()
                if request is None:
                    return
                method, target, headers, body = request
                c.server.requests.append((method, target))
                path = target.split("?")[0]
                hostile = trickle.get(path)
                if hostile is not None:
                    _replay(c, method, target, headers, body)
                    hostile(c)
                    return
                upstream_connection.request(method, target, body or None, headers)
                answer = upstream_connection.getresponse()
                data = answer.read()
                kept = [(k, v) for k, v in answer.getheaders()
                        if k.lower() not in ("content-length", "transfer-encoding",
                                             "connection")]
                if not c.send(head(answer.status, *kept, ("Content-Length", str(len(data))))
                              + data):
                    return
        finally:
            upstream_connection.close()

    return behaviour


def _replay(c: Connection, method: str, target: str, headers: dict[str, str],
            body: bytes) -> None:
    # The hostile behaviour reads the request itself: hand it back the one already read.
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    c._buffer = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body + c._buffer


def measure(fn: Callable[[], Any]) -> tuple[float, Exception | None]:
    """Seconds ``fn`` took and what it raised (None if nothing)."""
    start = time.monotonic()
    try:
        fn()
    except Exception as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None
