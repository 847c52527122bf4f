"""Sending a built request over urllib3 and reading the whole answer, within two limits.

* **Time.** ``timeout`` is the whole exchange: connect, send, status line, headers and body,
  however slowly the server trickles them.  urllib3's own timeouts bound each socket read, so a
  server sending one byte every half second would hold a request for days; here every socket
  operation of an exchange gets only what is left of its deadline.  Past it:
  :class:`~brokerauth.contract.errors.TransportError` "no complete answer within N s", and the
  connection is closed, never pooled.
* **Size.** The body is read in pieces, counted after decompression as it arrives (a 2 MiB gzip
  answer can inflate to 2 GiB), up to ``max_bytes``; a declared ``Content-Length`` over it is
  refused before reading.  Past it: :class:`~brokerauth.contract.errors.ResponseError` naming the
  limit, and the connection is closed.

Errors name the method, host and path only (a query may carry values that must not reach a
log).  Nothing is retried here: retrying, and re-signing each attempt, is the session's
decision.

Every request carries ``User-Agent: brokerauth/VERSION PLUGIN/VERSION`` (the broker plugin's
distribution, named by the session; see :func:`brokerauth._version.user_agent`) unless its own
headers, or its signer's, name one: a caller's ``headers={"User-Agent": ...}`` on a request
wins, and ``Transport(user_agent=...)`` replaces the default for every request of a session.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from brokerauth._version import user_agent as _user_agent
from brokerauth.contract.errors import DeadlineError, ResponseError, TransportError
from brokerauth.contract.wire import Request, Response

if TYPE_CHECKING:
    import urllib3

#: Token endpoints never answer with more than this; a larger answer is refused, not parsed.
TOKEN_RESPONSE_LIMIT = 1 << 20
#: API answers, unless the profile (``max_response_bytes``) or the call says otherwise. Broker
#: APIs page their lists: their largest answers (a day of minute bars, a page of orders or
#: fills) are a few MiB, so 64 MiB is far above any of them and still small enough that a
#: runaway or hostile answer cannot exhaust a process's memory.
DEFAULT_RESPONSE_LIMIT = 64 << 20
#: Bodies are read (and decompressed) this much at a time, so memory follows what was kept.
_PIECE = 64 << 10
#: A declared length up to this is read in one call, as urllib3 would preload it: the common
#: small answer pays for no loop.
_ONE_READ = 1 << 20
#: How far past the deadline a socket operation may end when the timeout urllib3 set just
#: before it is kept rather than set again (see ``bound``): one millisecond, against timeouts
#: of seconds.
_SLACK = 0.001


class Transport:
    """A urllib3 pool plus the rules above. Thread-safe; share one per session.

    The pool, and urllib3 with it, is made on first use: work that never sends (``brokerauth
    sign``) does not pay for importing urllib3, about a fifth of its start-up time.

    The deadline holds in every socket operation on the pool the transport makes itself (what
    sessions use).  A pool manager passed in (a proxy's, say) keeps its own connections and
    urllib3's rules: the connect and each read get what is left of ``timeout`` when they
    start, and the deadline is checked between pieces of the body, so a server trickling
    bytes just inside each read can outlast it there.
    """

    def __init__(
        self,
        pool: urllib3.PoolManager | None = None,
        *,
        timeout: float = 10.0,
        user_agent: str | None = None,
    ) -> None:
        """:param user_agent: the ``User-Agent`` of every request that names none itself;
            brokerauth's own (with the broker plugin's name, see :meth:`name_plugin`) if not
            given."""
        #: The ``User-Agent`` sent with every request whose headers name none.
        self.user_agent = user_agent if user_agent is not None else _user_agent()
        self._agent_given = user_agent is not None
        self._pool = pool
        self._pool_lock = threading.Lock()
        self.timeout = timeout
        self._options: _SendOptions | None = None
        self._host_pools: dict[tuple[str, str], Any] = {}
        #: Whether the pool is ours, whose connections keep the deadline in every operation.
        self._timed = pool is None

    @property
    def pool(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    import urllib3

                    from brokerauth.toolkit.logs import quiet_http_logs

                    manager = urllib3.PoolManager(maxsize=16, block=False)
                    manager.pool_classes_by_scheme = _timed_pool_classes()
                    self._pool = manager
                    quiet_http_logs()  # urllib3's own DEBUG lines would show the query
                pool = self._pool
        return pool

    def name_plugin(self, distribution: str | None, version: str | None) -> None:
        """Name the broker plugin in the default ``User-Agent`` (a session does, as it opens).

        A ``user_agent`` given to the constructor is kept, and so is the first plugin named: a
        transport shared by sessions of two brokers names the first (give it ``user_agent``
        to choose)."""
        if not self._agent_given and self.user_agent == _user_agent():
            self.user_agent = _user_agent(distribution, version)

    def _send_options(self) -> _SendOptions:
        options = self._options
        if options is None:
            options = self._options = _SendOptions(self.timeout)
        return options

    def send(
        self,
        request: Request,
        *,
        signature: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_bytes: int | None = DEFAULT_RESPONSE_LIMIT,
        limit_name: str | None = None,
    ) -> Response:
        """Send ``request`` with the ``signature`` headers added (merged into the one header
        dict urllib3 needs, rather than into a second immutable request), and read the answer.

        :param timeout: seconds for the whole exchange (the transport's ``timeout`` if None).
        :param max_bytes: the largest body accepted, counted after decompression; ``None``
            reads any size (only for a large download the caller asked for).
        :param limit_name: what sets ``max_bytes`` (a profile key, an argument), named in the
            error when an answer is over it.
        """
        options = self._send_options()
        if timeout is None or timeout == options.seconds:
            seconds, budget = options.seconds, options.timeout
        else:
            seconds, budget = timeout, options.total(timeout)
        deadline = time.monotonic() + seconds
        headers = dict(request.headers)
        if signature:
            headers.update(signature)
        if "User-Agent" not in headers and not _names_agent(headers):
            headers["User-Agent"] = self.user_agent
        arguments: dict[str, Any] = {
            "body": request.body,
            "headers": headers,
            "timeout": budget,
            "retries": options.no_retries,
            "redirect": False,
            "preload_content": False,
        }
        # The signed headers leave this frame's locals before any error can pass through it:
        # an error report that shows a traceback's variables (Sentry's default, rich's and
        # pytest's show_locals) must not show a token or a signature.
        try:
            if type(self.pool) is options.plain_manager:
                query = request.query_string
                target = f"{request.path}?{query}" if query else request.path
                raw = self._host_pool(request, options).urlopen(
                    request.method, target, assert_same_host=False, **arguments
                )
            else:  # a proxy manager, or another the caller gave: its own routing applies
                raw = self.pool.request(request.method, request.url, **arguments)
        except options.error as exc:
            del signature
            raise _failed(request, exc, " failed", seconds, deadline, options) from None
        finally:
            del headers, arguments
        try:
            content = _read_answer(raw, request, options, max_bytes, limit_name, seconds,
                                   deadline, self._timed)
        except BaseException:
            del signature
            raise
        return Response(raw.status, raw.headers, content, request, signature)

    def _host_pool(self, request: Request, options: _SendOptions) -> Any:
        """The connection pool of the request's host. A session talks to one or two hosts:
        remembering their pools skips the URL parsing and pool-key lookup the manager would
        redo for every request (a pool the manager has since closed is fetched anew)."""
        key = (request.scheme, request.host)
        host_pool = self._host_pools.get(key)
        if host_pool is None or host_pool.pool is None:
            where = options.parse_url(f"{request.scheme}://{request.host}")
            host_pool = self.pool.connection_from_host(
                where.host, port=where.port, scheme=where.scheme
            )
            self._host_pools[key] = host_pool
        return host_pool

    def close(self) -> None:
        host_pools, self._host_pools = self._host_pools, {}
        for host_pool in host_pools.values():
            host_pool.close()
        if self._pool is not None:
            self._pool.clear()


def _names_agent(headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` name a ``User-Agent`` in any spelling of the name."""
    # A loop, not any(...): this runs for every request sent, and the generator costs twice.
    for name in headers:  # noqa: SIM110
        if len(name) == 10 and name.lower() == "user-agent":
            return True
    return False


class _SendOptions:
    """urllib3 objects every send passes: made once, as urllib3 would otherwise build a new
    ``Retry`` and ``Timeout`` for every request (they are immutable, so sharing is safe)."""

    def __init__(self, timeout: float) -> None:
        import urllib3
        from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError
        from urllib3.exceptions import TimeoutError as Urllib3Timeout

        # The same object urllib3 makes from ``retries=False, redirect=False``: no retry, no
        # redirect, the underlying error raised as is.
        self.no_retries = urllib3.Retry(False, redirect=False)
        self.seconds = timeout
        self.total = _total_timeout
        # ``total``: urllib3 then gives the connect the whole budget and the answer what is
        # left of it, and the transport's pools carry it on to every read (_timed_pool_classes).
        self.timeout = _total_timeout(timeout)
        self.error: type[Exception] = HTTPError
        self.timeout_error: type[Exception] = Urllib3Timeout
        self.connect_timeout: type[Exception] = ConnectTimeoutError
        # urllib3 derives it from ConnectTimeoutError, but it is a refusal, never a timeout.
        self.refused: type[Exception] = NewConnectionError
        self.parse_url = urllib3.util.parse_url
        self.plain_manager: type[Any] = urllib3.PoolManager


def _total_timeout(seconds: float) -> Any:
    import urllib3

    return urllib3.Timeout(total=seconds)


def _read_answer(
    raw: urllib3.BaseHTTPResponse,
    request: Request,
    options: _SendOptions,
    limit: int | None,
    limit_name: str | None,
    seconds: float,
    deadline: float,
    timed: bool,
) -> bytes:
    """The body, decompressed, within ``limit`` bytes and by ``deadline``."""
    complete = False
    try:
        # urllib3's count of what the framing promises: None when chunked or unknown, 0 for a
        # HEAD, 204 or 304 whatever Content-Length says.
        length = raw.length_remaining
        headers = raw.headers
        plain = "Content-Encoding" not in headers or (
            headers["Content-Encoding"].lower() in ("", "identity"))
        if plain and length is not None:
            if limit is not None and length > limit:
                raise _too_large(request, raw.status, limit, limit_name, declared=length)
            if timed and length <= _ONE_READ:
                content = raw.read()
                complete = True
                return content
        pieces: list[bytes] = []
        size = 0
        while True:
            # Never past one byte over the limit: an answer over it ends mid-body, so its
            # connection is dropped with it rather than handed back to the pool.
            piece = raw.read(_PIECE if limit is None else min(_PIECE, limit + 1 - size))
            if not piece:
                break
            size += len(piece)
            if limit is not None and size > limit:
                raise _too_large(request, raw.status, limit, limit_name)
            pieces.append(piece)
            # The transport's own connections stop at the deadline inside each read; a pool
            # the caller gave is checked here, between pieces.
            if not timed and time.monotonic() >= deadline:
                raise _late(request, seconds)
        complete = True
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)
    except options.error as exc:
        raise _failed(request, exc, ": reading the answer failed", seconds, deadline,
                      options) from None
    finally:
        # A body read to its end frees the connection for reuse; any other is dropped with its
        # connection rather than drained (draining is what a trickling server wants).
        if complete:
            raw.release_conn()
        else:
            raw.close()


def _too_large(
    request: Request, status: int, limit: int, limit_name: str | None, *,
    declared: int | None = None,
) -> ResponseError:
    what = (f"declares {declared:,} bytes, over" if declared is not None
            else "is larger than")
    named = f" ({limit_name})" if limit_name else ""
    read = "; nothing was read" if declared is not None else ""
    hint = (f"if answers this large are expected, raise {limit_name}, or give the request "
            "max_bytes=None (no limit)" if limit_name
            else "no answer of this kind is that large: check the profile's base_url")
    return ResponseError(
        f"{request.method} {request.path}: the answer {what} the {limit:,}-byte "
        f"limit{named}{read}",
        status=status, hint=hint,
    )


def _late(request: Request, seconds: float, why: str = "") -> DeadlineError:
    return DeadlineError(
        f"{request.method} {request.scheme}://{request.host}{request.path}: no complete answer "
        f"within {seconds:g} s{why}",
        hint="the server is slow or trickles its answer; if its answers take longer, raise "
        "the profile's timeout",
    )


def _failed(
    request: Request, exc: Exception, doing: str, seconds: float, deadline: float,
    options: _SendOptions,
) -> TransportError:
    # Every socket operation gets what is left of the deadline, so a timeout of any of them, or
    # any failure once the deadline has passed (a send cut short surfaces as "connection
    # aborted"), is the deadline's.
    timed_out = isinstance(exc, options.timeout_error) and not isinstance(exc, options.refused)
    if timed_out or time.monotonic() >= deadline:
        connecting = timed_out and isinstance(exc, options.connect_timeout)
        why = " (timed out connecting)" if connecting else ""
        return _late(request, seconds, why)
    return TransportError(
        f"{request.method} {request.scheme}://{request.host}{request.path}{doing}: "
        f"{_reason(exc)}",
        hint="check the profile's environment or base_url, and that the server is up",
    )


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    name = type(inner).__name__
    text = {
        "NewConnectionError": "connection refused or host unreachable",
        "ConnectTimeoutError": "timed out connecting",
        "ReadTimeoutError": "timed out waiting for the answer",
        "NameResolutionError": "host name could not be resolved",
        "ProtocolError": "connection broken",
        "SSLError": "TLS handshake failed",
    }.get(name)
    return text or name


# -- the transport's own connections: the deadline in every socket operation ---------------

_POOL_CLASSES: dict[str, Any] = {}


def _timed_pool_classes() -> dict[str, Any]:
    """The pool classes of the transport's pool manager, by scheme: urllib3's, whose
    connections give every socket operation only what is left of the exchange's deadline.
    Made once, on first use (with urllib3, which start-up does without)."""
    if _POOL_CLASSES:
        return _POOL_CLASSES
    import http.client
    import socket

    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    monotonic = time.monotonic
    answer_class = http.client.HTTPResponse
    buffered = io.BufferedReader

    def left(deadline: float) -> float:
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise TimeoutError("the exchange's deadline has passed")
        return remaining

    def bound(sock: socket.socket, deadline: float) -> None:
        """Let the next operation on ``sock`` wait no later than ``deadline``.

        Setting a timeout is a system call each time, and urllib3 has just set one before the
        send and before the answer (to what is left of the same total, as the exchange started
        a moment earlier): that one is kept when it ends the operation at most :data:`_SLACK`
        after the deadline."""
        remaining = left(deadline)
        current = sock.gettimeout()  # no system call: the socket's own record
        if current is None or not remaining <= current <= remaining + _SLACK:
            sock.settimeout(remaining)

    class DeadlineFile(socket.SocketIO):
        """The socket's reading side for one answer: each read waits only until the
        deadline. A timeout per read is not enough: a byte sent just inside it never trips
        it, and the next read waits as long again.

        ``http.client.HTTPResponse`` is given this in place of the socket: all it does with a
        socket is ``makefile("rb")``, which here buffers this file."""

        def __init__(self, sock: socket.socket, deadline: float) -> None:
            super().__init__(sock, "rb")
            self._socket = sock
            # Counted among the socket's files, as socket.makefile counts its own: a
            # "Connection: close" answer closes the connection and goes on reading.
            sock._io_refs += 1  # type: ignore[attr-defined]
            self._deadline = deadline

        def makefile(self, mode: str) -> io.BufferedReader:
            return buffered(self)

        def readinto(self, buffer: Any) -> int | None:
            bound(self._socket, self._deadline)
            return super().readinto(buffer)

    class TimedHTTPConnection(HTTPConnection):
        #: ``time.monotonic()`` by which the current exchange must be over (set by the pool
        #: as each exchange starts).
        deadline: float | None = None
        #: ``http.client.HTTPConnection.debuglevel = 1`` (a common debugging recipe) makes
        #: every connection print what it sends and receives, token and body included: not
        #: these.
        debuglevel = 0

        def connect(self) -> None:
            if self.deadline is not None:
                self.timeout = left(self.deadline)
            super().connect()

        def send(self, data: Any) -> None:
            deadline = self.deadline
            if deadline is not None:
                if self.sock is None:
                    self.connect()
                # sendall's timeout covers the whole call: a server that stops reading the
                # request is cut off at the deadline too.
                bound(self.sock, deadline)
            super().send(data)

        # http.client makes the answer with ``self.response_class(self.sock, method=...)``;
        # as a method, it can hand the answer this exchange's deadline.
        def response_class(  # type: ignore[override]
            self, sock: socket.socket, debuglevel: int = 0, method: str | None = None,
            url: str | None = None,
        ) -> http.client.HTTPResponse:
            deadline = self.deadline
            source: Any = sock
            if deadline is not None and isinstance(sock, socket.socket):
                source = DeadlineFile(sock, deadline)
            return answer_class(source, 0, method, url)

    class TimedHTTPSConnection(TimedHTTPConnection, HTTPSConnection):
        pass

    class TimedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = TimedHTTPConnection

        def _make_request(
            self, conn: Any, method: str, url: str, *args: Any, **kwargs: Any
        ) -> Any:
            # urlopen passes the exchange's Timeout by keyword; the transport sets its total.
            total = getattr(kwargs.get("timeout"), "total", None)
            conn.deadline = monotonic() + total if isinstance(total, int | float) else None
            return super()._make_request(conn, method, url, *args, **kwargs)

    class TimedHTTPSConnectionPool(TimedHTTPConnectionPool, HTTPSConnectionPool):
        ConnectionCls = TimedHTTPSConnection

    _POOL_CLASSES.update(http=TimedHTTPConnectionPool, https=TimedHTTPSConnectionPool)
    return _POOL_CLASSES
