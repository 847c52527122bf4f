"""A toolkit for broker emulators: a threaded HTTP server on loopback with routes, a
injectable clock (it also drives the ``Date`` header, so clients can learn a skew), and call
counts tests can assert on.

A plugin subclasses :class:`SandboxServer` and marks handlers with :func:`route`::

    class AcmeSandbox(SandboxServer):
        @route("POST", "/token")
        def token(self, request: SandboxRequest) -> SandboxResponse:
            return SandboxResponse.json({"access_token": ...})
"""

from __future__ import annotations

import argparse
import collections
import email.utils
import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TextIO, TypeVar
from urllib.parse import parse_qsl, urljoin, urlsplit

import attrs
from brokerauth.cli.common import port_number
from brokerauth.contract.clock import Clock, SystemClock

log = logging.getLogger("brokerauth_sandbox.server")

_MAX_BODY = 1 << 20


@attrs.frozen(repr=False)
class SandboxRequest:
    method: str
    path: str
    query: str = attrs.field(repr=False)
    """The raw query string as received."""
    params: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    """The query decoded, in order."""
    headers: Mapping[str, str] = attrs.field(repr=False)
    """Lower-cased header names."""
    body: bytes = attrs.field(repr=False)
    host: str

    def __repr__(self) -> str:
        # Headers, query and body carry tokens, codes and signatures: names and sizes only.
        return (f"<SandboxRequest {self.method} {self.path} headers={sorted(self.headers)} "
                f"body={len(self.body)}B>")

    __str__ = __repr__

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None


@attrs.frozen(repr=False)
class SandboxResponse:
    status: int = 200
    body: bytes = attrs.field(default=b"", repr=False)
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)

    def __repr__(self) -> str:
        # A body carries tokens and codes: the status, header names and size only.
        names = sorted({name for name, _ in self.headers})
        return f"<SandboxResponse {self.status} headers={names} body={len(self.body)}B>"

    __str__ = __repr__

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
    ) -> SandboxResponse:
        body = json.dumps(payload).encode()
        return cls(status, body, (("Content-Type", "application/json"), *headers))

    @classmethod
    def html(cls, text: str, status: int = 200) -> SandboxResponse:
        return cls(
            status,
            text.encode(),
            (("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")),
        )

    @classmethod
    def drop(cls) -> SandboxResponse:
        """Close the connection without answering (a crashed server, a broken network)."""
        return cls(status=0)

    @classmethod
    def redirect(cls, location: str) -> SandboxResponse:
        return cls(302, b"", (("Location", location), ("Cache-Control", "no-store")))


Handler = Callable[[Any, SandboxRequest], SandboxResponse]
H = TypeVar("H", bound=Handler)
S = TypeVar("S")


def route(method: str, path: str) -> Callable[[H], H]:
    """Mark a method as the handler of ``method path``; a path ending in ``*`` is a prefix."""

    def mark(fn: H) -> H:
        routes = getattr(fn, "_sandbox_routes", [])
        routes.append((method.upper(), path))
        fn._sandbox_routes = routes  # type: ignore[attr-defined]
        return fn

    return mark


class _Server(ThreadingHTTPServer):
    # A fleet test connects 16 processes x 8 threads at once: with the default backlog of 5
    # the kernel drops connection attempts, and a retried connect can outlast a deadline.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a size cap refusing a huge answer, a deadline cutting a
        # slow one) is what tests do on purpose, not the sandbox failing: only other errors
        # are printed.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Base class of every sandbox: start on a free loopback port, serve, stop."""

    _routes: ClassVar[dict[tuple[str, str], str]] = {}
    #: Shown by ``brokerauth sandbox``; subclasses set it.
    broker: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        routes: dict[tuple[str, str], str] = {}
        for base in reversed(cls.__mro__):
            for name, member in vars(base).items():
                for key in getattr(member, "_sandbox_routes", ()):
                    routes[key] = name
        cls._routes = routes

    def __init__(
        self, clock: Clock | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self._bind = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self._calls_lock = threading.Lock()
        #: Seconds added to the clock for the ``Date`` header and the server's own checks, to
        #: play a server whose clock differs from the client's.
        self.clock_offset: float = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """The ``Host`` a client sends: ``127.0.0.1:PORT``."""
        return f"{self._bind[0]}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def listen_on(self, port: int) -> None:
        """Use this port on 127.0.0.1 instead of a free one (before :meth:`start`)."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already listening")
        self._bind = (self._bind[0], port)

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        server = _Server(self._bind, _make_handler(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name=f"sandbox-{type(self).__name__}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for subclasses ------------------------------------------------------------
    def server_now(self) -> float:
        """The server's time as a Unix timestamp (its clock plus ``clock_offset``)."""
        return self.clock.now().timestamp() + self.clock_offset

    def count(self, method: str, path: str) -> int:
        with self._calls_lock:
            return self.calls[(method.upper(), path)]

    def profile_settings(self) -> dict[str, Any]:
        """Broker settings that point a profile here; subclasses extend."""
        return {"base_url": self.base_url}

    # -- dispatch --------------------------------------------------------------------------
    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        with self._calls_lock:
            self.calls[(request.method, request.path)] += 1
        name = self._routes.get((request.method, request.path))
        if name is None:
            for (method, pattern), candidate in self._routes.items():
                if (
                    method == request.method
                    and pattern.endswith("*")
                    and request.path.startswith(pattern[:-1])
                ):
                    name = candidate
                    break
        if name is None:
            return self.not_found(request)
        handler: Handler = getattr(type(self), name)
        return handler(self, request)

    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            {"error_code": "NOT_FOUND", "message": f"no route {request.method} {request.path}"},
            status=404,
        )


class RecordingServer(SandboxServer):
    """Another origin, for tests of where credentials go: it answers every request with 200 and
    ``{}``, and keeps each one in :attr:`seen`."""

    def __init__(
        self, clock: Clock | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(clock, host=host, port=port)
        self.seen: list[SandboxRequest] = []

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        with self._calls_lock:
            self.seen.append(request)
        return SandboxResponse.json({})


def _make_handler(sandbox: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, each keep-alive answer
        # waits ~40 ms for the client's delayed ACK.
        disable_nagle_algorithm = True
        server_version = "brokerauth-sandbox"
        sys_version = ""

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._send(SandboxResponse.json({"message": "body too large"}, status=413))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            request = SandboxRequest(
                method=self.command,
                path=parts.path,
                query=parts.query,
                params=tuple(parse_qsl(parts.query, keep_blank_values=True)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                host=self.headers.get("Host", ""),
            )
            try:
                response = sandbox.dispatch(request)
            except Exception:
                log.exception("sandbox handler failed for %s %s", self.command, parts.path)
                response = SandboxResponse.json(
                    {"error_code": "INTERNAL", "message": "sandbox error"}, status=500
                )
            self._send(response)

        def _send(self, response: SandboxResponse) -> None:
            if response.status == 0:
                self.close_connection = True
                return
            self.send_response(response.status)
            for key, value in response.headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(sandbox.server_now(), usegmt=True)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # The path only: a query may carry codes or states that must not reach a log.
            log.debug(
                "sandbox %s: %s %s -> %s",
                type(sandbox).__name__, self.command, urlsplit(self.path).path, code,
            )

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("sandbox %s: " + format, type(sandbox).__name__, *args)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    return _Handler


def from_command_line(
    make: Callable[..., S],
    add_arguments: Callable[[argparse.ArgumentParser], None],
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str,
) -> S:
    """An emulator made from a ``python -m`` command line: ``--port`` and the options
    ``add_arguments`` declares (each ``dest`` a keyword of ``make``)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=port_number, default=0,
                        help="port to listen on (default: any)")
    add_arguments(parser)
    return make(**vars(parser.parse_args(argv)))


def serve_until_interrupted(
    sandbox: SandboxServer | Callable[[], SandboxServer],
    *,
    banner: Callable[[Any], object] | None = None,
    on_line: Callable[[Any], str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run a sandbox until Ctrl-C (SIGINT) or SIGTERM, stop it and return 0: the whole of
    ``python -m ...sandbox`` and ``brokerauth sandbox``, called first thing in their ``main``.

    ``sandbox`` is a function that reads the command line and builds the sandbox (or a sandbox
    not started yet); it is called once SIGINT is taken over. Then the sandbox starts and
    ``banner(sandbox)`` says where it listens. With ``on_line``, each line typed on standard
    input calls ``on_line(sandbox)`` and what it returns is printed on ``out``; once input
    closes (run in the background) the sandbox keeps serving.

    From this call on, a Ctrl-C at any moment ends in the same clean stop, exit code 0 (Ctrl-C
    is how a sandbox is meant to stop): SIGINT only sets a flag, it never raises
    ``KeyboardInterrupt`` into a print, a bind or a shutdown. One that comes while the sandbox is
    built, started or described stops it right after (no banner once stopping); later ones are
    ignored while it stops and the process exits, so SIGINT stays ignored after this returns.
    A SIGINT blocked or ignored by whoever started the process is taken too: the banner
    promises that Ctrl-C stops. Before this call (while Python starts and imports the command's
    modules) a SIGINT is Python's own ``KeyboardInterrupt``. Runs in the main thread only.
    """
    import os
    import signal
    import time

    interrupted = False

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True
        # One stop is enough: a second Ctrl-C must not interrupt the shutdown, nor (Python puts
        # SIG_DFL back for a handler of its own at exit) kill the exiting process.
        for stop in stops:
            signal.signal(stop, signal.SIG_IGN)

    # SIGTERM (a service manager, `docker stop`, `kill`) stops it the same clean way.
    stops = [signal.SIGINT] + ([signal.SIGTERM] if sys.platform != "win32" else [])
    try:
        previous = {stop: signal.signal(stop, on_sigint) for stop in stops}
    except KeyboardInterrupt:  # Python's own, just before: nothing was started
        return 0
    # After the handler: a pending SIGINT held by a blocked mask arrives now, as a flag.
    held = (signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            if sys.platform != "win32" else None)

    out = out or sys.stdout
    lines_lock = threading.Lock()  # on_line's output: none once the stop begins
    lines_closed = False

    def read_lines(server: SandboxServer) -> None:
        # A thread, and os.read, not sys.stdin: a blocking read in the main thread could only be
        # broken by KeyboardInterrupt, and a daemon thread that holds sys.stdin's buffer lock
        # at exit aborts the interpreter.
        assert on_line is not None
        try:
            fd = sys.stdin.fileno()
        except (AttributeError, ValueError, OSError):  # no stdin, or not a file
            return
        unterminated = False
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if chunk:
                typed = chunk.count(b"\n")
                unterminated = not chunk.endswith(b"\n")
            else:  # end of input: a last line without a newline is a line too
                typed = int(unterminated)
            for _ in range(typed):
                with lines_lock:
                    if lines_closed:
                        return
                    print(on_line(server), file=out, flush=True)
            if not chunk:
                return

    server: SandboxServer | None = None
    try:
        if isinstance(sandbox, SandboxServer):
            server = sandbox
        elif not interrupted:
            server = sandbox()
        if server is not None and not interrupted:
            server.start()
        if server is not None and not interrupted:  # not announced if already stopping
            if banner is not None:
                banner(server)
            if on_line is not None:
                threading.Thread(target=read_lines, args=(server,), daemon=True,
                                 name="sandbox-stdin").start()
        # A flag polled, not an Event the handler sets: the handler runs in this thread, between
        # two bytecodes, maybe inside Event.wait() holding the Event's lock (a deadlock); and a
        # blocking wait misses a signal that lands just before it blocks.
        while not interrupted:
            time.sleep(0.05)
    finally:
        with lines_lock:
            lines_closed = True
        if server is not None:
            server.stop()
        if not interrupted:  # an error, or --help: SIGINT as it was
            if held is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            for stop, handler in previous.items():
                if handler is not None:
                    signal.signal(stop, handler)
    return 0


class HeadlessBrowser:
    """An :class:`~brokerauth.contract.interaction.Interaction` that "visits" authorization URLs
    itself, following redirects, as a browser would after a person approved: for tests and the demo
    against sandboxes whose login page approves at once. Never for a real broker."""

    def __init__(self, *, max_redirects: int = 5) -> None:
        self.max_redirects = max_redirects
        self.visited: list[str] = []
        self.messages: list[str] = []
        #: The status of the last page reached (200 once the loopback listener accepted).
        self.final_status: int | None = None

    def say(self, message: str) -> None:
        self.messages.append(message)

    def open_url(self, url: str) -> None:
        # http.client, not urllib3: urllib3 logs every URL at DEBUG, and these carry the
        # authorization code and state.
        import http.client

        for _ in range(self.max_redirects + 1):
            self.visited.append(url)
            parts = urlsplit(url)
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
            try:
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                connection.request("GET", target or "/")
                response = connection.getresponse()
                response.read()
                location = response.getheader("Location")
                status = response.status
            finally:
                connection.close()
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            self.final_status = status
            return
        raise RuntimeError("too many redirects")

    def waiting(self, message: str, *, deadline: datetime | None = None) -> _Quiet:
        self.messages.append(message)
        return _Quiet()


class _Quiet:
    def update(self, status: str, *, deadline: datetime | None = None) -> None:
        return None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
