"""A local emulator of Webull OpenAPI's server side of authentication, for tests and demos.

It verifies every request's HMAC signature the way Webull does (see
:mod:`brokerauth_webull.verifier`), enforces the timestamp window and nonce uniqueness, and
runs the 2FA token lifecycle on an injectable clock:

* create (``/auth/tokens/create`` v3, ``/openapi/auth/token/create`` v2) returns a ``PENDING``
  token (``NORMAL`` at once with ``auto_verify``, as Webull's test environment does); creating
  with a still ``NORMAL`` token returns that token;
* the user "enters the SMS code" with ``POST /sandbox/2fa/verify {"token": ...}`` or
  :meth:`WebullSandbox.enter_sms_code`: ``PENDING`` becomes ``NORMAL``;
* ``PENDING`` becomes ``EXPIRED`` after 5 minutes; ``NORMAL`` becomes ``INVALID`` after 15
  days without use; unknown tokens are ``INVALID``;
* create and check allow 10 requests per 30 s per app key (HTTP 429 beyond).

Run it by hand with ``python -m brokerauth_webull.sandbox.server [--port N] [--two-factor]
[--auto-verify]``.  No answer ever contains an app secret, and tokens appear only in the
bodies of the token endpoints that issue them.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import secrets
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final, Literal, TypeGuard

import attrs
from brokerauth.contract.clock import Clock
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.replay import NonceLedger
from brokerauth_sandbox.server import (
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    from_command_line,
    route,
    serve_until_interrupted,
)

from brokerauth_webull import codes, endpoints, streaming
from brokerauth_webull.codes import WebullError
from brokerauth_webull.verifier import check_request

DAY: Final = 86400.0
ExpiryField = Literal["expires_at", "expires", "both"]

_V3: Final = endpoints.TOKEN_ENDPOINTS["v3"]
_V2: Final = endpoints.TOKEN_ENDPOINTS["v2"]


@attrs.define
class _IssuedToken:
    value: str = attrs.field(repr=False)
    app_key: str = attrs.field(repr=False)  # configured as a secret reference
    created: float
    last_used: float
    status: str


_Handler = Callable[["WebullSandbox", SandboxRequest], SandboxResponse]


def _signed(*, token: bool = False) -> Callable[[_Handler], _Handler]:
    """Run Webull's gateway checks (and, with ``token``, the 2FA token check) first."""

    def wrap(handler: _Handler) -> _Handler:
        @functools.wraps(handler)
        def checked(self: WebullSandbox, request: SandboxRequest) -> SandboxResponse:
            rejection = self.authenticate(request, needs_token=token)
            if rejection is not None:
                return self.error(rejection)
            return handler(self, request)

        return checked

    return wrap


class WebullSandbox(SandboxServer):
    """Webull OpenAPI's authentication, emulated on loopback.

    :param app_key: the app key it knows (random by default; more with :meth:`add_app`).
    :param app_secret: that app's secret (random by default).
    :param two_factor_required: ``GET /openapi/config`` says ``token_check_enabled`` and
        protected calls need a ``NORMAL`` ``x-access-token``.
    :param auto_verify: new tokens are ``NORMAL`` at once (Webull's test environment).
    :param timestamp_window: seconds ``x-timestamp`` may differ from the server's clock.
    :param check_limit: requests per ``check_period`` seconds to each of create and check.
    :param require_version: reject requests without ``x-version`` (``MISSING_VERSION``).
    :param expiry_field: name of the expiry in token answers: Webull's docs say
        ``expires_at``, the SDK reads ``expires`` (and fails without it); ``both``, the
        default, sends both.
    """

    broker: ClassVar[str] = "webull"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app_key: str | None = None,
        app_secret: str | None = None,
        two_factor_required: bool = False,
        auto_verify: bool = False,
        timestamp_window: float = 60.0,
        pending_lifetime: float = 300.0,
        idle_lifetime: float = 15 * DAY,
        check_limit: int = 10,
        check_period: float = 30.0,
        require_version: bool = False,
        expiry_field: ExpiryField = "both",
    ) -> None:
        super().__init__(clock, host=host, port=port)
        self.app_key = app_key or "sandbox-" + secrets.token_hex(8)
        self.app_secret = app_secret or secrets.token_urlsafe(24)
        self.two_factor_required = two_factor_required
        self.auto_verify = auto_verify
        self.timestamp_window = timestamp_window
        self.pending_lifetime = pending_lifetime
        self.idle_lifetime = idle_lifetime
        self.check_limit = check_limit
        self.check_period = check_period
        self.require_version = require_version
        self.expiry_field: ExpiryField = expiry_field
        #: Error codes answered, for tests to assert on (``rejections["DUPLICATE_NONCE"]``).
        self.rejections: collections.Counter[str] = collections.Counter()
        self.tokens_created = 0
        #: Every signed create and check call as ``(server time, path, x-version)``, so tests
        #: can count what a client sends per 30 s.
        self.token_requests: list[tuple[float, str, str | None]] = []
        #: Knob: the next create or check calls (once past the gateway) get these answers
        #: instead, to play a misbehaving server (HTML error pages, wrong fields, 500s).
        self.token_faults: list[SandboxResponse] = []
        #: Quote streaming topics (``"CATEGORY:SYMBOL"``, sub type) per (app key, session id).
        self.quote_topics: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._apps: dict[str, str] = {self.app_key: self.app_secret}
        self._state = threading.Lock()
        self._nonces = NonceLedger()
        self._tokens: dict[str, _IssuedToken] = {}
        self._latest_pending: str | None = None
        self._hits: dict[tuple[str, str], collections.deque[float]] = {}

    def __repr__(self) -> str:
        try:
            where = self.base_url
        except RuntimeError:
            where = "not started"
        return f"<WebullSandbox {where} apps={len(self._apps)} tokens={len(self._tokens)}>"

    # -- configuration -----------------------------------------------------------------------
    def add_app(self, app_key: str, app_secret: str) -> None:
        with self._state:
            self._apps[app_key] = app_secret

    def profile_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "app_key": Secret.from_value(self.app_key),
            "app_secret": Secret.from_value(self.app_secret),
            # Said, not left to "auto": whether this account needs a token is known, and
            # commands that send nothing (status, sign) can only tell from the profile.
            "two_factor": "on" if self.two_factor_required else "off",
        }
        if self.auto_verify:
            # Tokens verified at once are what Webull's test environment does: a profile for
            # it says so, and its logins need no person.
            settings["environment"] = "sandbox"
        return settings

    # -- the user's side ---------------------------------------------------------------------
    def enter_sms_code(self, token: str | None = None) -> None:
        """Play the user entering the SMS code for ``token`` (default: the latest pending one).

        :raises LookupError: no such token, or it is no longer ``PENDING``.
        """
        with self._state:
            value = token if token is not None else self._latest_pending
            record = self._tokens.get(value) if value is not None else None
            if record is None:
                raise LookupError("no pending token to verify")
            now = self.server_now()
            status = self._status(record, now)
            if status != codes.PENDING:
                raise LookupError(f"the token is {status}, not PENDING")
            record.status = codes.NORMAL
            record.last_used = now
            if self._latest_pending == value:
                self._latest_pending = None

    def token_status(self, token: str) -> str:
        """The status ``check`` would answer for ``token`` now."""
        with self._state:
            record = self._tokens.get(token)
            return codes.INVALID if record is None else self._status(record, self.server_now())

    # -- Webull's gateway --------------------------------------------------------------------
    def authenticate(self, request: SandboxRequest, *, needs_token: bool) -> WebullError | None:
        """Signature, timestamp window, nonce replay, then (if asked) the 2FA token."""
        now = self.server_now()
        rejection = gateway_check(request, secret_for=self._secret_for, nonces=self._nonces,
                                  now=now, window=self.timestamp_window)
        if rejection is not None:
            return rejection
        app_key = request.headers["x-app-key"]
        if self.require_version and not request.headers.get("x-version"):
            return codes.MISSING_VERSION
        if needs_token and self.two_factor_required:
            return self.use_token(app_key, request.headers.get("x-access-token"), now)
        return None

    def use_nonce(self, app_key: str, nonce: str, now: float) -> WebullError | None:
        """Record ``nonce`` as used by ``app_key``; ``DUPLICATE_NONCE`` if it already was (by
        an HTTP request or a gRPC call: one memory for both, as one gateway would keep)."""
        return replay_check(self._nonces, app_key, nonce, now, self.timestamp_window)

    def secret_for(self, app_key: str) -> str | None:
        """The secret of ``app_key``, if the sandbox knows that app."""
        return self._secret_for(app_key)

    def error(self, error: WebullError) -> SandboxResponse:
        with self._state:
            self.rejections[error.code] += 1
        return SandboxResponse.json(error.body(), status=error.status)

    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        if request.path.startswith("/sandbox/"):
            return self.error(codes.NOT_FOUND)
        # A gateway authenticates before it routes.
        rejection = self.authenticate(request, needs_token=False)
        return self.error(rejection or codes.NOT_FOUND)

    # -- routes ------------------------------------------------------------------------------
    @route("GET", endpoints.CONFIG)
    @_signed()
    def config(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"token_check_enabled": self.two_factor_required})

    @route("POST", _V3.create)
    @route("POST", _V2.create)
    @_signed()
    def create_token(self, request: SandboxRequest) -> SandboxResponse:
        fault = self._token_call(request)
        if fault is not None:
            return fault
        body = _json_object(request.body)
        old = body.get("token") if body is not None else None
        if body is None or not (old is None or isinstance(old, str)):
            return self.error(codes.ILLEGAL_PARAMETER)
        app_key = request.headers["x-app-key"]
        now = self.server_now()
        with self._state:
            limited = self._limited(app_key, "create", now)
            answer = None if limited else self._answer(self._create(app_key, old, now), now)
        if answer is None:
            return self.error(codes.TOO_MANY_REQUESTS)
        return SandboxResponse.json(answer, headers=(("Cache-Control", "no-store"),))

    @route("POST", _V3.check)
    @route("POST", _V2.check)
    @_signed()
    def check_token(self, request: SandboxRequest) -> SandboxResponse:
        fault = self._token_call(request)
        if fault is not None:
            return fault
        body = _json_object(request.body)
        token = body.get("token") if body is not None else None
        if not isinstance(token, str) or not token:
            return self.error(codes.ILLEGAL_PARAMETER)
        app_key = request.headers["x-app-key"]
        now = self.server_now()
        with self._state:
            limited = self._limited(app_key, "check", now)
            record = None if limited else self._tokens.get(token)
            if record is not None and record.app_key != app_key:
                record = None  # another app's token is unknown to this one
            if limited:
                answer = None
            elif record is None:
                answer = self._expiry({"token": token}, 0) | {"status": codes.INVALID}
            else:
                answer = self._answer(record, now)
        if answer is None:
            return self.error(codes.TOO_MANY_REQUESTS)
        return SandboxResponse.json(answer, headers=(("Cache-Control", "no-store"),))

    @route("GET", endpoints.ACCOUNT_LIST)
    @_signed(token=True)
    def account_list(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            [
                {
                    "account_id": "SBX0000001",
                    "account_number": "5SB00001",
                    "account_type": "CASH",
                    "account_class": "INDIVIDUAL_CASH",
                    "account_label": "Sandbox Individual",
                }
            ]
        )

    @route("POST", streaming.SUBSCRIBE_PATH)
    @_signed(token=True)
    def quote_subscribe(self, request: SandboxRequest) -> SandboxResponse:
        return self._quote_topics(request, add=True)

    @route("POST", streaming.UNSUBSCRIBE_PATH)
    @_signed(token=True)
    def quote_unsubscribe(self, request: SandboxRequest) -> SandboxResponse:
        return self._quote_topics(request, add=False)

    @route("POST", endpoints.SANDBOX_VERIFY)
    def sandbox_verify(self, request: SandboxRequest) -> SandboxResponse:
        body = _json_object(request.body)
        token = body.get("token") if body is not None else None
        if token is not None and not isinstance(token, str):
            return self.error(codes.ILLEGAL_PARAMETER)
        try:
            self.enter_sms_code(token)
        except LookupError:
            return self.error(codes.NO_PENDING_TOKEN)
        return SandboxResponse.json({"status": codes.NORMAL})

    # -- internals (called with self._state held where they touch state) ---------------------
    def _quote_topics(self, request: SandboxRequest, *, add: bool) -> SandboxResponse:
        """Webull's quote subscription calls: ``{session_id, symbols (1-50), category,
        sub_types}``; the topics (symbol, sub type) of each MQTT session id are kept in
        :attr:`quote_topics`.  Webull answers no body."""
        body = _json_object(request.body)
        if body is None:
            return self.error(codes.ILLEGAL_PARAMETER)
        session_id, symbols = body.get("session_id"), body.get("symbols")
        category, sub_types = body.get("category"), body.get("sub_types")
        if not (
            isinstance(session_id, str) and session_id and isinstance(category, str)
            and category and _strings(symbols) and len(symbols) <= streaming.MAX_SYMBOLS
            and _strings(sub_types) and set(sub_types) <= set(streaming.SUB_TYPES)
        ):
            return self.error(codes.ILLEGAL_PARAMETER)
        topics = {(f"{category}:{symbol}", kind) for symbol in symbols for kind in sub_types}
        key = (request.headers["x-app-key"], session_id)
        with self._state:
            held = self.quote_topics.setdefault(key, set())
            if add:
                held |= topics
            else:
                held -= topics
        return SandboxResponse(200, b"", ())

    def _token_call(self, request: SandboxRequest) -> SandboxResponse | None:
        """Record a create or check call; the planted fault to answer it with, if any."""
        with self._state:
            self.token_requests.append(
                (self.server_now(), request.path, request.headers.get("x-version"))
            )
            return self.token_faults.pop(0) if self.token_faults else None

    def _secret_for(self, app_key: str) -> str | None:
        with self._state:
            return self._apps.get(app_key)

    def _status(self, record: _IssuedToken, now: float) -> str:
        if record.status == codes.PENDING and now >= record.created + self.pending_lifetime:
            record.status = codes.EXPIRED
        elif record.status == codes.NORMAL and now >= record.last_used + self.idle_lifetime:
            record.status = codes.INVALID
        return record.status

    def _create(self, app_key: str, old: str | None, now: float) -> _IssuedToken:
        """Reuse ``old`` if it is this app's and still ``NORMAL`` (as the SDK expects when it
        sends its stored token), else issue a new one."""
        record = self._tokens.get(old) if old else None
        if record is None or record.app_key != app_key or self._status(record, now) != codes.NORMAL:
            return self._issue(app_key, now)
        record.last_used = now
        return record

    def _issue(self, app_key: str, now: float) -> _IssuedToken:
        status = codes.NORMAL if self.auto_verify else codes.PENDING
        record = _IssuedToken(secrets.token_hex(16), app_key, now, now, status)
        self._tokens[record.value] = record
        self.tokens_created += 1
        if status == codes.PENDING:
            self._latest_pending = record.value
        return record

    def _answer(self, record: _IssuedToken, now: float) -> dict[str, Any]:
        status = self._status(record, now)
        expires_ms = int((record.last_used + self.idle_lifetime) * 1000)
        return self._expiry({"token": record.value}, expires_ms) | {"status": status}

    def _expiry(self, answer: dict[str, Any], expires_ms: int) -> dict[str, Any]:
        if self.expiry_field in ("expires_at", "both"):
            answer["expires_at"] = expires_ms
        if self.expiry_field in ("expires", "both"):
            answer["expires"] = expires_ms
        return answer

    def _limited(self, app_key: str, kind: str, now: float) -> bool:
        hits = self._hits.setdefault((app_key, kind), collections.deque())
        while hits and hits[0] <= now - self.check_period:
            hits.popleft()
        if len(hits) >= self.check_limit:
            return True
        hits.append(now)
        return False

    def use_token(self, app_key: str, token: str | None, now: float) -> WebullError | None:
        """``INVALID_TOKEN`` unless ``token`` is this app's and ``NORMAL`` (it is then used)."""
        with self._state:
            record = self._tokens.get(token) if token else None
            if (
                record is None
                or record.app_key != app_key
                or self._status(record, now) != codes.NORMAL
            ):
                return codes.INVALID_TOKEN
            record.last_used = now
        return None


def gateway_check(
    request: SandboxRequest,
    *,
    secret_for: Callable[[str], str | None],
    nonces: NonceLedger,
    now: float,
    window: float,
) -> WebullError | None:
    """Webull's gateway, for every emulator of a Webull API: the HMAC signature (the app key's
    secret from ``secret_for``) and its timestamp window, then nonce replay."""
    rejection = check_request(
        path=request.path,
        params=request.params,
        headers=request.headers,
        body=request.body,
        host=request.host,
        secret_for=secret_for,
        now=now,
        window=window,
    )
    if rejection is not None:
        return rejection
    return replay_check(nonces, request.headers["x-app-key"],
                        request.headers["x-signature-nonce"], now, window)


def replay_check(
    nonces: NonceLedger, app_key: str, nonce: str, now: float, window: float
) -> WebullError | None:
    """``DUPLICATE_NONCE`` if ``app_key`` already used ``nonce``, else it is recorded."""
    # A replay carries the same x-timestamp, at most `window` ahead of now, and stays
    # acceptable until that timestamp + `window`: 2 windows from now at the latest.
    if nonces.first_use((app_key, nonce), now, keep_until=now + 2 * window):
        return None
    return codes.DUPLICATE_NONCE


def _strings(value: object) -> TypeGuard[list[str]]:
    """A non-empty list of non-empty strings."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(v, str) and v for v in value))


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; an empty body counts as ``{}``; ``None`` if malformed."""
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


# -- command line ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m brokerauth_webull.sandbox.server``: serve until Ctrl-C, then exit 0.

    Ctrl-C is taken over before the arguments are even read, so that it stops cleanly at any
    moment: before the banner, during it, while serving, while stopping."""
    return serve_until_interrupted(lambda: _from_command_line(argv), banner=_print_banner,
                                   on_line=_enter_code)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options, each ``dest`` a keyword of :class:`WebullSandbox`: this command
    line's, and ``brokerauth sandbox webull``'s (named in the ``brokerauth.sandbox`` entry)."""
    parser.add_argument(
        "--two-factor", dest="two_factor_required", action="store_true",
        help="require a verified 2FA token on API calls",
    )
    parser.add_argument(
        "--auto-verify", action="store_true", help="new tokens are valid at once (test env)"
    )
    parser.add_argument("--app-key", help="app key to accept (default: random)")
    parser.add_argument("--app-secret", help="its secret (default: random)")


def _from_command_line(argv: Sequence[str] | None) -> WebullSandbox:
    return from_command_line(
        WebullSandbox, add_arguments, argv, prog="python -m brokerauth_webull.sandbox.server",
        description="Serve a local emulator of Webull OpenAPI authentication on 127.0.0.1.",
    )


def _print_banner(sandbox: WebullSandbox) -> None:
    out = sys.stdout
    # The credentials are the sandbox's own throwaway ones: printing them is the point.
    print(f"Webull sandbox listening on {sandbox.base_url}", file=out)
    print(f"  app key:    {sandbox.app_key}", file=out)
    print(f"  app secret: {sandbox.app_secret}", file=out)
    print(f"  2FA token required: {'yes' if sandbox.two_factor_required else 'no'}", file=out)
    print(
        "\nexport WEBULL_APP_KEY=... WEBULL_APP_SECRET=... with the values above, then:\n\n"
        "[profiles.webull-sandbox]\n"
        'broker = "webull"\n'
        f'base_url = "{sandbox.base_url}"\n'
        'app_key = { env = "WEBULL_APP_KEY" }\n'
        'app_secret = { env = "WEBULL_APP_SECRET" }\n',
        file=out,
    )
    print(
        "Press Enter to play the user entering the SMS code for the latest pending token "
        f"(or POST {endpoints.SANDBOX_VERIFY}); Ctrl-C stops.",
        file=out,
        flush=True,
    )


def _enter_code(sandbox: WebullSandbox) -> str:
    try:
        sandbox.enter_sms_code()
    except LookupError as exc:
        return str(exc)
    return "verified the latest pending token"


if __name__ == "__main__":
    sys.exit(main())
