"""A loopback WebSocket gateway that checks the one-time password of a stream's auth request.

The server side of :mod:`brokerauth_futu.streaming`, in the standard library only (RFC 6455
upgrade and framing, enough for one request and its answer): it accepts ``ws://`` upgrades on
its paths with the handshake query (``version=1&codec=1&platform=9``), reads the first binary
message as a Longbridge-framed request, and answers the auth command (2): with an
``AuthResponse{session_id, expires, limit, online}`` (status 0) when the password is one the
sandbox issued and never used, else with status 1 and an ``Error{code, msg}`` body, then a
close.  Anything else gets HTTP 400 or a close.  Every read is bounded in size and time.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEAD: Final = 16 * 1024
_MAX_MESSAGE: Final = 64 * 1024
_TIMEOUT: Final = 5.0
_QUERY: Final = {"version": "1", "codec": "1", "platform": "9"}
#: The paths served: the two gateways, as a profile's quote_ws_url / trade_ws_url name them.
PATHS: Final = ("/quote/v2", "/trade/v2")

#: ``check(kind, otp, metadata)`` -> ``(session_id, expires_ms, limit, online)`` or ``None``.
Check = Callable[[str, str, Mapping[str, str]], "tuple[str, int, int, int] | None"]


class Gateway:
    """The WebSocket side of the Futu sandbox; started and stopped with it."""

    def __init__(self, check: Check, host: str = "127.0.0.1") -> None:
        self._check = check
        self._host = host
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: The ``Accept-Language`` of each upgrade request accepted, in order.
        self.languages: list[str] = []

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the gateway is not running")
        return int(self._server.server_address[1])

    def url(self, kind: str) -> str:
        return f"ws://{self._host}:{self.port}/{kind}/v2"

    def start(self) -> None:
        gateway = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                gateway._serve(self.request)

        server = socketserver.ThreadingTCPServer((self._host, 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="futu-ws-gateway",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- one connection -------------------------------------------------------------------
    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_TIMEOUT)
        try:
            head = _read_head(conn)
            kind, key, language = _upgrade(head)
            if kind is None or key is None:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID,
                                                   usedforsecurity=False).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            with self._lock:
                self.languages.append(language)
            opcode, message = _read_frame(conn)
            if opcode != 2:
                _send_close(conn, 1003)
                return
            conn.sendall(_frame(2, self._answer(kind, message)))
            _send_close(conn, 1000)
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def _answer(self, kind: str, packet: bytes) -> bytes:
        parsed = parse_request(packet)
        if parsed is None:
            return _response(0, 0, 1, _error(400, "malformed request"))
        command, request_id, body = parsed
        if command != 2:
            return _response(command, request_id, 1, _error(401, "authenticate first"))
        fields = parse_auth_request(body)
        if fields is None:
            return _response(command, request_id, 1, _error(400, "malformed auth request"))
        otp, metadata = fields
        granted = self._check(kind, otp, metadata)
        if granted is None:
            return _response(command, request_id, 1, _error(401, "one-time password refused"))
        session_id, expires, limit, online = granted
        answer = (_string(1, session_id) + _number(2, expires) + _number(3, limit)
                  + _number(4, online))
        return _response(command, request_id, 0, answer)


def new_session_id() -> str:
    return "ws-" + secrets.token_hex(8)


# --- HTTP upgrade ----------------------------------------------------------------------------


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            raise ValueError("request head too long")
        chunk = conn.recv(4096)
        if not chunk:
            raise ValueError("closed during the upgrade request")
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0]


def _upgrade(head: bytes) -> tuple[str | None, str | None, str]:
    """``(kind, Sec-WebSocket-Key, Accept-Language)``; ``kind`` is ``None`` when the request
    is not a WebSocket upgrade of a served path with the handshake query."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if len(parts) != 3 or parts[0] != "GET":
        return None, None, ""
    target = urlsplit(parts[1])
    query = dict(parse_qsl(target.query))
    ok = (
        target.path in PATHS
        and query == _QUERY
        and headers.get("upgrade", "").lower() == "websocket"
        and headers.get("sec-websocket-version") == "13"
    )
    kind = target.path.split("/")[1] if ok else None
    return kind, headers.get("sec-websocket-key"), headers.get("accept-language", "")


# --- RFC 6455 framing ------------------------------------------------------------------------


def _read_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ValueError("closed mid-frame")
        data += chunk
    return data


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    """One whole (unfragmented) client frame: ``(opcode, payload)``; clients must mask."""
    first, second = _read_exact(conn, 2)
    if not first & 0x80 or not second & 0x80:
        raise ValueError("fragmented or unmasked frame")
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(_read_exact(conn, 2), "big")
    elif length == 127:
        length = int.from_bytes(_read_exact(conn, 8), "big")
    if length > _MAX_MESSAGE:
        raise ValueError("message too big")
    mask = _read_exact(conn, 4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(conn, length)))
    return first & 0x0F, payload


def _frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


def _send_close(conn: socket.socket, code: int) -> None:
    conn.sendall(_frame(8, code.to_bytes(2, "big")))


# --- Longbridge packets and protobuf ----------------------------------------------------------


def parse_request(packet: bytes) -> tuple[int, int, bytes] | None:
    """``(command, request_id, body)`` of a request packet, or ``None``."""
    if len(packet) < 11 or packet[0] & 0x0F != 1 or packet[0] & 0x30:
        return None  # not a request, or signed/gzipped (not needed for auth)
    command = packet[1]
    request_id = int.from_bytes(packet[2:6], "big")
    size = int.from_bytes(packet[8:11], "big")
    body = packet[11:]
    return (command, request_id, body) if len(body) == size else None


def parse_auth_request(body: bytes) -> tuple[str, dict[str, str]] | None:
    """``(token, metadata)`` of a protobuf ``AuthRequest``, or ``None``."""
    fields = _fields(body)
    if fields is None:
        return None
    token = ""
    metadata: dict[str, str] = {}
    for number, value in fields:
        if number == 1:
            token = value.decode("utf-8", errors="replace")
        elif number == 2:
            entry = _fields(value)
            if entry is None:
                return None
            found = {n: v.decode("utf-8", errors="replace") for n, v in entry}
            metadata[found.get(1, "")] = found.get(2, "")
    return token, metadata


def _fields(data: bytes) -> list[tuple[int, bytes]] | None:
    """The length-delimited fields of a message (any other wire type: ``None``)."""
    out: list[tuple[int, bytes]] = []
    at = 0
    while at < len(data):
        tag, at = _read_varint(data, at)
        size, at = _read_varint(data, at)
        if tag & 7 != 2 or at + size > len(data) or size < 0:
            return None
        out.append((tag >> 3, data[at:at + size]))
        at += size
    return out


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        if at >= len(data):
            return -1, at
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at
    return -1, at


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | 0x80 if value else low)
        if not value:
            return bytes(out)


def _string(number: int, text: str) -> bytes:
    raw = text.encode("utf-8")
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def _number(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _error(code: int, message: str) -> bytes:
    return _number(1, code) + _string(2, message)


def _response(command: int, request_id: int, status: int, body: bytes) -> bytes:
    return (bytes((2, command)) + request_id.to_bytes(4, "big") + bytes((status,))
            + len(body).to_bytes(3, "big") + body)


def parse_response(packet: bytes) -> tuple[int, int, int, dict[int, bytes | int]]:
    """``(command, request_id, status, fields)`` of a response packet, its protobuf body's
    fields by number (strings as bytes, numbers as ints): for tests and the demo."""
    if len(packet) < 10 or packet[0] & 0x0F != 2:
        raise ValueError("not a response packet")
    command, request_id, status = packet[1], int.from_bytes(packet[2:6], "big"), packet[6]
    size = int.from_bytes(packet[7:10], "big")
    body = packet[10:10 + size]
    fields: dict[int, bytes | int] = {}
    at = 0
    while at < len(body):
        tag, at = _read_varint(body, at)
        if tag < 0:
            raise ValueError("malformed body")
        if tag & 7 == 0:
            value, at = _read_varint(body, at)
            if value < 0:
                raise ValueError("malformed body")
            fields[tag >> 3] = value
        elif tag & 7 == 2:
            size_, at = _read_varint(body, at)
            if size_ < 0 or at + size_ > len(body):
                raise ValueError("malformed body")
            fields[tag >> 3] = body[at:at + size_]
            at += size_
        else:
            raise ValueError("unexpected wire type")
    return command, request_id, status, fields
