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

When the browser runs on another machine (SSH, a server) the redirect never reaches this one;
the person may then paste the address the browser shows, and :meth:`LoopbackListener.accept_pasted`
judges it by the same rules as an arriving redirect (its host and port standing for the
``Host`` header).  Whichever comes first wins.  A paste is refused with a reason the person can
act on, never with the URL (it holds the code); after a few refused pastes the login stops.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, NoReturn
from urllib.parse import SplitResult, parse_qsl, urlsplit

from brokerauth.contract.errors import ConfigError, LoginRequiredError
from brokerauth.contract.interaction import announce_redirect, withdraw_redirect
from brokerauth.toolkit.oauth import AuthorizationError, ForgedCallbackError, parse_callback

log = logging.getLogger("brokerauth.toolkit.loopback")

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")

_DONE_PAGE = """<!doctype html><meta charset="utf-8"><title>Signed in</title>
<p>You are signed in. You can close this window and return to the program.</p>"""
_REFUSED_PAGE = """<!doctype html><meta charset="utf-8"><title>Refused</title>
<p>This request was refused: {reason}.</p>"""


#: Refused pastes a login allows before it stops: enough for a slip or two, not a guessing game.
PASTE_ATTEMPTS: Final = 5

# Why a callback was refused, worded for where it came from: a browser's request gets a page,
# a paste a line on the terminal.
_HOST, _PATH, _DONE, _STATE, _NO_CODE = "host", "path", "done", "state", "no code"
_PAGE_REASONS: Final = {
    _HOST: "the Host header does not name this listener",
    _PATH: "this is not the login callback path",
    _DONE: "the login was already completed",
    _STATE: "the state is missing or does not match",
    _NO_CODE: "the callback carries no authorization code",
}
_PASTE_REASONS: Final = {
    _HOST: "its host or port is not this login's redirect",
    _PATH: "its path is not this login's redirect",
    _DONE: "the login is no longer waiting",
    _STATE: "its state is missing or is not this login's (an older login's address, or "
            "another program's)",
    _NO_CODE: "it carries no authorization code",
}


class LoginTimeoutError(LoginRequiredError):
    """No valid callback arrived before the listener's timeout."""


class PasteRefusedError(AuthorizationError):
    """A pasted address that is not this login's redirect; the message says why, never what
    was pasted."""


class TooManyPastesError(AuthorizationError):
    """Every paste the login allows was refused: the login stops."""


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
        self, redirect_uri: str, *, expected_state: str, timeout: float = 300.0,
        paste_attempts: int = PASTE_ATTEMPTS,
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
        self._closed = False
        self._callbacks: list[Callable[[], None]] = []
        #: Requests refused so far (wrong host, path, state, or a second callback).
        self.refused = 0
        #: Pasted addresses refused so far; at ``paste_attempts`` the login stops.
        self.pastes_refused = 0
        self.paste_attempts = paste_attempts

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
        announce_redirect(self)
        return self

    @property
    def pending(self) -> bool:
        return not self._closed and not self._done.is_set()

    def on_done(self, callback: Callable[[], None]) -> None:
        """``callback`` once when the wait ends: a callback taken, an error, the timeout, or
        :meth:`close` (at once if that happened already)."""
        with self._lock:
            if self.pending:
                self._callbacks.append(callback)
                return
        callback()

    def _ended(self) -> None:
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

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
                    hint="another login of this profile may be waiting on it: finish or stop "
                    "that one; else stop the program using the port, or configure another "
                    "loopback redirect_uri (it must also be registered with the broker)",
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
        withdraw_redirect(self)
        with self._lock:
            self._closed = True
        self._ended()
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

    def accept_pasted(self, url: str) -> None:
        """Take the redirect a person pasted (the address the browser shows after approving),
        judged like an arriving one: an absolute ``http`` URL whose host and port would pass
        as its ``Host`` header, the redirect's path, this login's state.  Returns when it ended
        the wait: its code taken, or the server's ``error=`` (which :meth:`wait` raises).

        :raises PasteRefusedError: not this login's redirect; the person may paste again,
            unless that was the last of ``paste_attempts`` (then :meth:`wait` raises
            :class:`TooManyPastesError`).
        """
        text = url.strip()
        parts = _split(text)
        if parts is None:
            self._refuse_paste("it is not a URL")
        if not parts.scheme or not parts.netloc:
            self._refuse_paste("it is not a whole address (paste all of it, from http://)")
        if parts.scheme != "http":
            self._refuse_paste("its scheme is not http, as this login's redirect is")
        verdict = self._take(parts.netloc, parts.path, parts.query)
        if verdict is not None:
            self._refuse_paste(_PASTE_REASONS[verdict])

    def _refuse_paste(self, reason: str) -> NoReturn:
        with self._lock:
            if self.pending:
                self.pastes_refused += 1
            last = self.pending and self.pastes_refused >= self.paste_attempts
            if last:
                self._error = TooManyPastesError(
                    f"{self.pastes_refused} pasted addresses were refused; the login stopped",
                    hint="run the login again, approve it, and paste the whole address the "
                    f"browser then shows (it starts with {self.redirect_uri}?)",
                )
                self._done.set()
        log.info("a pasted login callback was refused: %s", reason)
        if last:
            self._ended()
        raise PasteRefusedError(
            f"the pasted address was refused: {reason}",
            hint=f"paste the whole address the browser shows after you approve; it starts with "
            f"{self.redirect_uri}?" if not last else "run the login again",
        )

    # -- called by the handler -------------------------------------------------------------
    def _judge(self, host: str, target: str) -> tuple[int, str]:
        try:
            parts = urlsplit(target)
        except ValueError:  # a target no browser sends ("http://[x"): no callback of ours
            return self._refuse(_PAGE_REASONS[_PATH])
        verdict = self._take(host, parts.path, parts.query)
        if verdict is not None:
            return self._refuse(_PAGE_REASONS[verdict])
        if self._error is not None:
            return 400, "the authorization was not granted"
        return 200, ""

    def _take(self, host: str, path: str, query: str) -> str | None:
        """The one judge of a callback, arrived or pasted: ``None`` when it ended the wait
        (a code, or the server's error with this login's state), else why it is refused."""
        allowed_hosts = {f"{name}:{self._port}" for name in _LOOPBACK_NAMES}
        if host.lower() not in allowed_hosts:
            return _HOST
        if path != self.path:
            return _PATH
        with self._lock:
            if not self.pending:
                return _DONE
            try:
                code = parse_callback(query, expected_state=self.expected_state)
            except ForgedCallbackError:
                # Checked before anything else in the callback, error= included: without
                # the state it is not the authorization server's answer to this login.
                return _STATE
            except AuthorizationError as exc:
                params = dict(parse_qsl(query, keep_blank_values=True))
                if "error" not in params:
                    return _NO_CODE
                # The right state and an error: the server's answer is that the user denied
                # (or it failed), which ends the wait with its (scrubbed) reason.
                self._error = exc
                self._done.set()
            else:
                self._code = code
                self._done.set()
        self._ended()
        return None

    def _refuse(self, reason: str) -> tuple[int, str]:
        self.refused += 1
        log.warning("login callback refused: %s", reason)
        return 400, reason


def _split(url: str) -> SplitResult | None:
    # None rather than the parser's ValueError: its text quotes what was pasted, and a refusal
    # raised while handling it would carry it along as its context.
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


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

