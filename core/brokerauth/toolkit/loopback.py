"""The loopback redirect listener for desktop logins (RFC 8252 §7.3).

It listens on 127.0.0.1 and ::1 only, on the redirect URI's port, and answers exactly one good
callback: the redirect URI's path, a ``Host`` naming a loopback address with that port (a
DNS-rebinding page cannot forge one), and the expected ``state``.  Anything else gets HTTP 400
and is ignored; pages carry ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``;
the listener closes after the first good callback or its timeout.

A good callback is either the code or the authorization server's ``error=`` (the user denied):
both need the state, so an ``<img src="http://127.0.0.1:PORT/callback?error=access_denied">``
on any page the user has open is refused like any other forged callback, and the login goes
on.  Only an error carrying this login's state ends it, with its reason masked and cut.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from brokerauth.contract.errors import ConfigError, LoginRequiredError
from brokerauth.toolkit.oauth import AuthorizationError, ForgedCallbackError, parse_callback

log = logging.getLogger("brokerauth.toolkit.loopback")

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")

_DONE_PAGE = """<!doctype html><meta charset="utf-8"><title>Signed in</title>
<p>You are signed in. You can close this window and return to the program.</p>"""
_REFUSED_PAGE = """<!doctype html><meta charset="utf-8"><title>Refused</title>
<p>This request was refused: {reason}.</p>"""


class LoginTimeoutError(LoginRequiredError):
    """No valid callback arrived before the listener's timeout."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # On POSIX, SO_REUSEADDR only lets a new login bind over the last one's TIME_WAIT
    # connections, never over a live listener; on Windows it would allow stealing the port.
    allow_reuse_address = os.name != "nt"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print the traceback to stderr, and with it whatever a crafted
        # request put in the exception's text: the name of what failed is enough.
        failed = sys.exc_info()[0]
        log.debug("a login callback connection failed: %s",
                  failed.__name__ if failed is not None else "unknown error")


class _Server6(_Server):
    address_family = socket.AF_INET6


class LoopbackListener:
    """Waits for the authorization redirect on ``redirect_uri`` (``http://localhost:PORT/path``
    or ``http://127.0.0.1:PORT/path``; port 0 picks a free one)."""

    def __init__(
        self, redirect_uri: str, *, expected_state: str, timeout: float = 300.0
    ) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            raise ConfigError(
                f"redirect URI {redirect_uri!r} is not a loopback http URI",
                hint="use http://localhost:PORT/callback or http://127.0.0.1:PORT/callback",
            )
        self.path = parts.path or "/"
        self._host_name = parts.hostname
        self._port = parts.port if parts.port is not None else 80
        self.expected_state = expected_state
        self.timeout = timeout
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._code: str | None = None
        self._error: LoginRequiredError | None = None
        #: Requests refused so far (wrong host, path, state, or a second callback).
        self.refused = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def redirect_uri(self) -> str:
        host = "[::1]" if self._host_name == "::1" else self._host_name
        return f"http://{host}:{self._port}{self.path}"

    def start(self) -> LoopbackListener:
        """Bind 127.0.0.1 and ::1 (when the machine has IPv6); fails at once if the port is
        taken."""
        # A free port picked on 127.0.0.1 may be taken on ::1; pick again a few times.
        attempts = 5 if self._port == 0 else 1
        for attempt in range(attempts):
            first = self._bind(_Server, "127.0.0.1", self._port if attempts == 1 else 0)
            port = int(first.server_address[1])
            self._servers = [first]
            try:
                self._servers.append(self._bind(_Server6, "::1", port))
            except ConfigError:
                if attempt + 1 == attempts:
                    raise
                continue
            except OSError:
                log.debug("no IPv6 loopback here; listening on 127.0.0.1 only")
            self._port = port
            break
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      daemon=True, name="brokerauth-loopback")
            thread.start()
            self._threads.append(thread)
        return self

    def _bind(self, cls: type[_Server], address: str, port: int) -> _Server:
        try:
            return cls((address, port), _handler(self))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                for server in self._servers:
                    server.server_close()
                raise ConfigError(
                    f"port {port} on {address} is already in use, so the login callback "
                    "cannot be received",
                    hint="stop the program using it, or configure another loopback "
                    "redirect_uri (it must also be registered with the broker)",
                ) from None
            raise

    def wait(self) -> str:
        """Block until the good callback (returns its code) or the timeout; then close."""
        try:
            if not self._done.wait(self.timeout):
                raise LoginTimeoutError(
                    f"no login callback arrived within {self.timeout:.0f} s",
                    hint="run the login again and finish it in the browser in time",
                )
            if self._error is not None:
                raise self._error
            assert self._code is not None
            return self._code
        finally:
            self.close()

    def close(self) -> None:
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads = []

    def __enter__(self) -> LoopbackListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- called by the handler -------------------------------------------------------------
    def _judge(self, host: str, target: str) -> tuple[int, str]:
        try:
            parts = urlsplit(target)
        except ValueError:  # a target no browser sends ("http://[x"): no callback of ours
            return self._refuse("this is not the login callback path")
        allowed_hosts = {f"{name}:{self._port}" for name in _LOOPBACK_NAMES}
        if host.lower() not in allowed_hosts:
            return self._refuse("the Host header does not name this listener")
        if parts.path != self.path:
            return self._refuse("this is not the login callback path")
        with self._lock:
            if self._done.is_set():
                return self._refuse("the login was already completed")
            try:
                code = parse_callback(parts.query, expected_state=self.expected_state)
            except ForgedCallbackError:
                # Checked before anything else in the callback, error= included: without
                # the state it is not the authorization server's answer to this login.
                return self._refuse("the state is missing or does not match")
            except AuthorizationError as exc:
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                if "error" not in params:
                    return self._refuse("the callback carries no authorization code")
                # The right state and an error: the server's answer is that the user denied
                # (or it failed), which ends the wait with its (scrubbed) reason.
                self._error = exc
                self._done.set()
                return 400, "the authorization was not granted"
            self._code = code
            self._done.set()
        return 200, ""

    def _refuse(self, reason: str) -> tuple[int, str]:
        self.refused += 1
        log.warning("login callback refused: %s", reason)
        return 400, reason


def _handler(listener: LoopbackListener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "brokerauth"
        sys_version = ""

        def do_GET(self) -> None:
            status, reason = listener._judge(self.headers.get("Host", ""), self.path)
            page = _DONE_PAGE if status == 200 else _REFUSED_PAGE.format(reason=reason)
            body = page.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.send_error(405)

        def log_message(self, format: str, *args: Any) -> None:
            # The request line holds the code and state: never log it.
            return None

    return Handler

