"""The httpx adapter over real HTTP/2 (h2c with prior knowledge, ``http1=False, http2=True``)
is signed as over HTTP/1.1, and guards the redirects httpx follows as it does over HTTP/1.1.

The guard reads each answer's status from what httpcore's ``receive_response_headers`` returns,
and httpcore's HTTP/2 connection returns ``(status, headers)`` where HTTP/1.1 returns
``(version, status, reason, headers)``: a redirect misread there would hand the trace back
before httpx follows it, and the hop to another origin would go out with the first hop's
signature. So every hop here is served by an HTTP/2 server on 127.0.0.1 (the sans-IO ``h2``
package in a thread, :class:`H2Front`) in front of the routes of the HTTP/1.1 tests' test
double (test_credential_boundary), which verifies the signature, the nonce and the token of
every hop; the other origin is an HTTP/2 server too, which records every header block it gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import attrs
import h2.config
import h2.connection
import h2.events
import httpx
import pytest
from brokerauth.adapters import httpx_auth
from brokerauth.contract.errors import OriginError
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import (
    RecordingServer,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    _make_handler,
)
from test_credential_boundary import BODY, METHODS, STATUSES, RedirectingDouble

log = logging.getLogger(__name__)

#: What a client speaking HTTP/2 with prior knowledge sends first (RFC 9113 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: Connections one server accepts, reads one connection makes, bytes one request may send:
#: every loop of the server is bounded.
MAX_CONNECTIONS = 64
MAX_READS = 1024
MAX_BODY = 1 << 20
#: Seconds a read waits for a client before the connection is dropped.
IO_TIMEOUT = 5.0
#: The headers the double's signer makes (tests/doubles/plugin.py).
SIGNATURE = frozenset({"authorization", "x-double-client", "x-double-nonce",
                       "x-double-signature", "x-double-timestamp"})
#: The name of every thread of the servers here (their records are kept from the logs).
THREAD_PREFIX = "h2-front-"


@attrs.frozen(repr=False)
class Heard:
    """A request's header block as it reached a server, before any body or answer."""

    protocol: str
    method: str
    path: str
    headers: Mapping[str, str]

    def __repr__(self) -> str:  # the headers carry tokens and signatures: names only
        return f"<Heard {self.protocol} {self.method} {self.path} {sorted(self.headers)}>"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class H2Front(SandboxServer):
    """``inner``'s routes on a loopback port of their own: over HTTP/2 for a connection that
    opens with the preface, over the test bench's HTTP/1.1 handler otherwise (the token
    requests the engine's own transport makes).  :attr:`heard` keeps each request's
    protocol, method, path and headers as they arrived, in order."""

    def __init__(self, inner: SandboxServer) -> None:
        super().__init__(inner.clock)
        self.inner = inner
        self.heard: list[Heard] = []
        self._listener: socket.socket | None = None
        self._wake_read, self._wake_write = socket.socketpair()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._http11 = _make_handler(self)

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the HTTP/2 front is not started")
        return int(self._listener.getsockname()[1])

    def server_now(self) -> float:
        return self.inner.server_now()

    def start(self) -> H2Front:
        listener = socket.create_server(self._bind, backlog=16)
        self._listener = listener
        self._spawn(self._accept, listener)
        return self

    def stop(self) -> None:
        self._wake_write.send(b"x")
        self._threads[0].join(timeout=IO_TIMEOUT)  # the accept loop: no connection after it
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for connection in connections:  # wakes a read blocked on it
            with contextlib.suppress(OSError):  # already closed by its client
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=IO_TIMEOUT)
        assert not [thread for thread in threads if thread.is_alive()], "a thread outlived stop"
        if self._listener is not None:
            self._listener.close()
        self._wake_read.close()
        self._wake_write.close()

    def _spawn(self, target: Callable[[socket.socket], None], argument: socket.socket) -> None:
        thread = threading.Thread(target=target, args=(argument,), daemon=True,
                                  name=THREAD_PREFIX + type(self.inner).__name__)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            for _ in range(MAX_CONNECTIONS):
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_read in ready:
                    return
                connection, _ = listener.accept()
                with self._lock:
                    self._connections.append(connection)
                self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(IO_TIMEOUT)
        try:
            opening = connection.recv(len(PREFACE), socket.MSG_PEEK | socket.MSG_WAITALL)
            if opening == PREFACE:
                self._serve_h2(connection)
            elif opening:
                self._http11(connection, connection.getpeername(),
                             socketserver.BaseServer(self._bind, self._http11))
        except OSError:
            pass  # the client hung up, or stop() shut the connection
        finally:
            connection.close()

    # -- HTTP/1.1: the test bench's handler calls this --------------------------------------
    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        self._hear("HTTP/1.1", request.method, request.path, request.headers)
        return self.inner.dispatch(request)

    def _hear(self, protocol: str, method: str, path: str, headers: Mapping[str, str]) -> None:
        with self._lock:
            self.heard.append(Heard(protocol, method, path, dict(headers)))

    # -- HTTP/2 -------------------------------------------------------------------------------
    def _serve_h2(self, connection: socket.socket) -> None:
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2conn.initiate_connection()
        connection.sendall(h2conn.data_to_send())
        streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        for _ in range(MAX_READS):
            data = connection.recv(65535)
            if not data:
                return
            for event in h2conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                    headers = {_text(k): _text(v) for k, v in event.headers or ()}
                    streams[event.stream_id] = (headers, bytearray())
                    self._hear("HTTP/2", headers.get(":method", ""),
                               urlsplit(headers.get(":path", "")).path,
                               {k: v for k, v in headers.items() if not k.startswith(":")})
                elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                    body = streams[event.stream_id][1]
                    body.extend(event.data or b"")
                    h2conn.acknowledge_received_data(event.flow_controlled_length or 0,
                                                     event.stream_id)
                    if len(body) > MAX_BODY:
                        del streams[event.stream_id]
                        h2conn.reset_stream(event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id in streams:
                    headers, body = streams.pop(event.stream_id)
                    self._answer(h2conn, event.stream_id, headers, bytes(body))
                elif isinstance(event, h2.events.ConnectionTerminated):
                    connection.sendall(h2conn.data_to_send())
                    return
            connection.sendall(h2conn.data_to_send())

    def _answer(self, h2conn: h2.connection.H2Connection, stream_id: int,
                headers: dict[str, str], body: bytes) -> None:
        parts = urlsplit(headers.get(":path", ""))
        request = SandboxRequest(
            method=headers.get(":method", ""), path=parts.path, query=parts.query,
            params=tuple(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k: v for k, v in headers.items() if not k.startswith(":")},
            body=body, host=headers.get(":authority", ""),
        )
        try:
            response = self.inner.dispatch(request)
        except Exception:
            log.exception("the HTTP/2 front's handler failed for %s", request)
            response = SandboxResponse.json({"message": "sandbox error"}, status=500)
        if response.status == 0:
            h2conn.reset_stream(stream_id)
            return
        h2conn.send_headers(stream_id, [
            (":status", str(response.status)),
            *((name.lower(), value) for name, value in response.headers),
            ("content-length", str(len(response.body))),
            ("date", email.utils.formatdate(self.server_now(), usegmt=True)),
        ], end_stream=not response.body)
        if response.body:
            assert len(response.body) <= h2conn.local_flow_control_window(stream_id)
            size = h2conn.max_outbound_frame_size
            for start in range(0, len(response.body), size):
                h2conn.send_data(stream_id, response.body[start:start + size],
                                 end_stream=start + size >= len(response.body))


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def double(manual_clock: ManualClock) -> Iterator[RedirectingDouble]:
    sandbox = RedirectingDouble(manual_clock)
    sandbox.start()  # for its profile settings; every request here goes to the front
    yield sandbox
    sandbox.stop()


@pytest.fixture
def front(double: RedirectingDouble) -> Iterator[H2Front]:
    server = H2Front(double).start()
    yield server
    server.stop()


@pytest.fixture
def recording() -> RecordingServer:
    return RecordingServer()  # never started: only its routes, behind ``elsewhere``


@pytest.fixture
def elsewhere(recording: RecordingServer) -> Iterator[H2Front]:
    """Another origin on loopback, outside the profile's origins, speaking HTTP/2."""
    server = H2Front(recording).start()
    yield server
    server.stop()


@pytest.fixture
def profile(double: RedirectingDouble, front: H2Front, token_home: Path) -> Profile:
    return Profile.from_mapping(
        "h2", {"broker": "double", **double.profile_settings(), "base_url": front.base_url})


def send(mode: str, profile: Profile, clock: ManualClock, method: str, url: str, *,
         http2: bool = True) -> httpx.Response:
    """One request through the adapter, redirects followed, over HTTP/2 with prior knowledge
    (or over HTTP/1.1), from a sync or an async client."""
    content = BODY if method == "POST" else None
    headers = {"Content-Type": "application/json"} if content else {}
    auth = httpx_auth(profile, clock=clock)
    if mode == "sync":
        with httpx.Client(auth=auth, http1=not http2, http2=http2, follow_redirects=True,
                          timeout=5) as client:
            return client.request(method, url, content=content, headers=headers)

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth, http1=not http2, http2=http2,
                                     follow_redirects=True, timeout=5) as client:
            return await client.request(method, url, content=content, headers=headers)

    return asyncio.run(go())


def h2_hops(server: H2Front) -> list[Heard]:
    return [heard for heard in server.heard if heard.protocol == "HTTP/2"]


MODES = ("sync", "async")


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_plain_answer_over_http2_is_signed_as_over_http11(
    mode: str, profile: Profile, double: RedirectingDouble, front: H2Front,
    manual_clock: ManualClock,
) -> None:
    over_h2 = send(mode, profile, manual_clock, "GET", front.base_url + "/api/me")
    assert over_h2.status_code == 200, over_h2.text  # the double verified it
    assert over_h2.http_version == "HTTP/2"
    assert over_h2.json()["client_id"] == double.client_id
    over_h11 = send(mode, profile, manual_clock, "GET", front.base_url + "/api/me", http2=False)
    assert over_h11.status_code == 200, over_h11.text
    assert over_h11.http_version == "HTTP/1.1"
    calls = [heard for heard in front.heard if heard.path == "/api/me"]
    assert [heard.protocol for heard in calls] == ["HTTP/2", "HTTP/1.1"]
    h2_call, h11_call = calls
    assert set(h2_call.headers) >= SIGNATURE
    assert set(h2_call.headers) & SIGNATURE == set(h11_call.headers) & SIGNATURE
    assert h2_call.headers["authorization"] == h11_call.headers["authorization"]
    assert double.seen_tokens == [h2_call.headers["authorization"][7:]] * 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", STATUSES)
def test_a_same_origin_redirect_over_http2_is_signed_anew(
    mode: str, method: str, status: int, profile: Profile, double: RedirectingDouble,
    front: H2Front, manual_clock: ManualClock,
) -> None:
    double.status = status
    double.location = "/api/landing"
    response = send(mode, profile, manual_clock, method, front.base_url + "/hop")
    assert response.status_code == 200, response.text  # the double verified the new hop
    assert response.http_version == "HTTP/2"
    assert [(r.status_code, r.http_version) for r in response.history] == [(status, "HTTP/2")]
    keeps_body = status in (307, 308)
    expected_method = method if keeps_body else "GET"
    expected_body = BODY if keeps_body and method == "POST" else b""
    assert double.landed == [(expected_method, expected_body)]
    first, second = h2_hops(front)
    assert (first.method, first.path) == (method, "/hop")
    assert (second.method, second.path) == (expected_method, "/api/landing")
    assert set(first.headers) >= SIGNATURE
    assert set(second.headers) >= SIGNATURE
    for name in ("x-double-signature", "x-double-nonce"):
        assert first.headers[name] != second.headers[name], name


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", STATUSES)
def test_a_redirect_over_http2_to_another_origin_is_refused_and_nothing_reaches_it(
    mode: str, method: str, status: int, profile: Profile, double: RedirectingDouble,
    front: H2Front, elsewhere: H2Front, recording: RecordingServer, manual_clock: ManualClock,
) -> None:
    double.status = status
    double.location = elsewhere.base_url + "/steal"
    with pytest.raises(OriginError) as caught:
        send(mode, profile, manual_clock, method, front.base_url + "/hop")
    assert caught.value.origin == elsewhere.base_url
    assert [(hop.method, hop.path) for hop in h2_hops(front)] == [(method, "/hop")]
    assert elsewhere.heard == []  # no header block at all, so no credential
    assert recording.seen == []
