"""Sending a built request over urllib3 and reading the whole answer, within limits.

Connection failures become :class:`~brokerauth.errors.TransportError` whose message names the
method, host and path only (a query may carry values that must not reach a log).  Nothing is
retried here: retrying, and re-signing each attempt, is the session's decision.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from brokerauth.errors import ResponseError, TransportError
from brokerauth.wire import Request, Response

if TYPE_CHECKING:
    import urllib3

#: Token endpoints never answer with more than this; a larger answer is refused, not parsed.
TOKEN_RESPONSE_LIMIT = 1 << 20


class Transport:
    """A urllib3 pool plus the rules above. Thread-safe; share one per session.

    The pool, and urllib3 with it, is made on first use: work that never sends (``brokerauth
    sign``) does not pay for importing urllib3, about a fifth of its start-up time.
    """

    def __init__(
        self, pool: urllib3.PoolManager | None = None, *, timeout: float = 10.0
    ) -> None:
        self._pool = pool
        self._pool_lock = threading.Lock()
        self.timeout = timeout
        self._options: _SendOptions | None = None
        self._host_pools: dict[tuple[str, str], Any] = {}

    @property
    def pool(self) -> urllib3.PoolManager:
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    import urllib3

                    from brokerauth.logs import quiet_http_logs

                    self._pool = urllib3.PoolManager(maxsize=16, block=False)
                    quiet_http_logs()  # urllib3's own DEBUG lines would show the query
                pool = self._pool
        return pool

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
        max_bytes: int | None = None,
    ) -> Response:
        """Send ``request`` with the ``signature`` headers added (merged into the one header
        dict urllib3 needs, rather than into a second immutable request); with ``max_bytes``,
        refuse an answer larger than that."""
        options = self._send_options()
        headers = dict(request.headers)
        if signature:
            headers.update(signature)
        arguments: dict[str, Any] = {
            "body": request.body,
            "headers": headers,
            "timeout": options.timeout if timeout is None else timeout,
            "retries": options.no_retries,
            "redirect": False,
            "preload_content": max_bytes is None,
        }
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
            raise TransportError(
                f"{request.method} {request.scheme}://{request.host}{request.path} failed: "
                f"{_reason(exc)}",
                hint="check the profile's environment or base_url, and that the server is up",
            ) from None
        content = raw.data if max_bytes is None else _read_limited(raw, max_bytes, request)
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


class _SendOptions:
    """urllib3 objects every send passes: made once, as urllib3 would otherwise build a new
    ``Retry`` and ``Timeout`` for every request (they are immutable, so sharing is safe)."""

    def __init__(self, timeout: float) -> None:
        import urllib3
        from urllib3.exceptions import HTTPError

        # The same object urllib3 makes from ``retries=False, redirect=False``: no retry, no
        # redirect, the underlying error raised as is.
        self.no_retries = urllib3.Retry(False, redirect=False)
        self.timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self.error: type[Exception] = HTTPError
        self.parse_url = urllib3.util.parse_url
        self.plain_manager: type[Any] = urllib3.PoolManager


def _read_limited(raw: urllib3.BaseHTTPResponse, limit: int, request: Request) -> bytes:
    from urllib3.exceptions import HTTPError as Urllib3Error

    complete = False
    try:
        declared = int(raw.headers.get("Content-Length") or 0)
        if declared > limit:
            raise ResponseError(
                f"{request.method} {request.path}: answer of {declared} bytes is over the "
                f"{limit}-byte limit",
                status=raw.status,
            )
        content = raw.read(limit + 1)
        if len(content) > limit:
            raise ResponseError(
                f"{request.method} {request.path}: answer is over the {limit}-byte limit",
                status=raw.status,
            )
        complete = True
        return content
    except Urllib3Error as exc:
        raise TransportError(
            f"{request.method} {request.scheme}://{request.host}{request.path}: reading the "
            f"answer failed: {_reason(exc)}"
        ) from None
    finally:
        # A body read to its end frees the connection for reuse; an over-long one is dropped
        # with its connection rather than drained.
        if complete:
            raw.release_conn()
        else:
            raw.close()


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
