"""A local emulator of Webull Connect's OAuth server, for tests and demos.

It knows one platform (client id and secret, app key and secret, scope, registered redirect
URI) and runs the whole lifecycle on an injectable clock:

* the login page (``GET /oauth2/authenticate/login``, also ``/oauth2/sandbox/...``) checks
  the client, the exact redirect URI, ``state`` and scope, and shows an HTML page with
  Approve and Deny buttons that post back; with ``auto_approve`` it redirects at once (so
  :class:`brokerauth_sandbox.server.HeadlessBrowser` can finish a login).  The user who approves is
  :attr:`ConnectSandbox.next_user` (the page lets a person type another);
* codes live 60 s and work once; PKCE S256 is checked when the login carried a challenge;
* the token endpoint (``POST /oauth2/tokens/create`` and ``/openapi/oauth2/token``) verifies
  Webull's HMAC headers with the ``webull`` plugin's verifier, then the client secret, and
  takes a form or JSON body;
* access tokens live 30 minutes; refresh tokens rotate on every use, expire 15 days after the
  login, and presenting a rotated one again revokes its whole family;
* answers are Webull's all-strings shape with ``created_at``; errors are Webull's
  ``{error_code, message}`` with 401 / 417 (or RFC 6749's, with ``error_dialect="rfc6749"``);
* ``GET /oauth-openapi/account/list`` needs a valid Bearer token.

Knobs for tests: :attr:`~ConnectSandbox.fail_refresh`, :attr:`~ConnectSandbox.refresh_delay`,
:attr:`~ConnectSandbox.token_answers`,
:attr:`~ConnectSandbox.api_answers`, :meth:`~ConnectSandbox.expire_access_tokens`,
:meth:`~ConnectSandbox.revoke_user`; counters :attr:`~ConnectSandbox.refresh_calls`,
:attr:`~ConnectSandbox.invalid_grants`, :attr:`~ConnectSandbox.code_exchanges`.

Run it by hand with ``python -m brokerauth_webull_connect.sandbox.server``.  No answer or log line
ever contains a secret; tokens and codes appear only where they are issued.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hmac
import html
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal
from urllib.parse import unquote_plus

import attrs
from brokerauth.contract.clock import Clock
from brokerauth.toolkit.oauth import s256
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.authserver import bearer_token, redirect_back
from brokerauth_sandbox.replay import NonceLedger
from brokerauth_sandbox.server import (
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    from_command_line,
    route,
    serve_until_interrupted,
)
from brokerauth_webull.sandbox.server import gateway_check

from brokerauth_webull_connect import codes
from brokerauth_webull_connect.codes import WebullError

DAY: Final = 86400.0
LOGIN_PATHS: Final = ("/oauth2/authenticate/login", "/oauth2/sandbox/authenticate/login")
TOKEN_PATHS: Final = ("/oauth2/tokens/create", "/openapi/oauth2/token")
ACCOUNT_LIST: Final = "/oauth-openapi/account/list"
DEFAULT_SCOPE: Final = "user:trade:wr"
DEFAULT_USER: Final = "SBX-IDENTITY-0001"

ErrorDialect = Literal["webull", "rfc6749"]
ClientAuth = Literal["client_secret_post", "client_secret_basic"]

_RFC_ERRORS: Final = {
    codes.AUTH_CODE_ERROR: ("invalid_grant", 400),
    codes.REFRESH_TOKEN_ERROR: ("invalid_grant", 400),
    codes.REFRESH_TOKEN_EXPIRED: ("invalid_grant", 400),
    codes.REDIRECT_URI_ERROR: ("invalid_grant", 400),
    codes.CLIENT_ERROR: ("invalid_client", 401),
    codes.PARAMETER_ERROR: ("invalid_request", 400),
}

CODE_INVALID: Final = WebullError(
    417, codes.AUTH_CODE_ERROR, "The authorization code is invalid or has expired."
)
REDIRECT_MISMATCH: Final = WebullError(
    417, codes.REDIRECT_URI_ERROR, "redirect_uri does not match the authorization request."
)
REFRESH_INVALID: Final = WebullError(
    417, codes.REFRESH_TOKEN_ERROR, "The refresh token is invalid."
)
REFRESH_REUSED: Final = WebullError(
    417, codes.REFRESH_TOKEN_ERROR,
    "The refresh token was already used; every token of this authorization was revoked.",
)
REFRESH_EXPIRED: Final = WebullError(
    417, codes.REFRESH_TOKEN_EXPIRED, "The refresh token has expired; authorize again."
)
CLIENT_INVALID: Final = WebullError(
    401, codes.CLIENT_ERROR, "Invalid client_id or client_secret."
)
BAD_PARAMETERS: Final = WebullError(
    417, codes.PARAMETER_ERROR, "Missing or invalid parameters."
)


def rfc6750_invalid_token() -> SandboxResponse:
    """The 401 an RFC 6750 resource server (authlib's, word for word) sends for a token it
    will not accept: its standard description names "revoked" among the possible reasons."""
    return SandboxResponse.json(
        {"error": "invalid_token", "error_description": RFC6750_INVALID_TOKEN_DESCRIPTION},
        status=401,
        headers=(("WWW-Authenticate",
                  f'Bearer error="invalid_token", '
                  f'error_description="{RFC6750_INVALID_TOKEN_DESCRIPTION}"'),),
    )


RFC6750_INVALID_TOKEN_DESCRIPTION: Final = (
    "The access token provided is expired, revoked, malformed, or invalid for other reasons."
)


@attrs.define
class _Code:
    client_id: str
    redirect_uri: str
    identity: str
    created: float
    challenge: str | None
    used: bool = False


@attrs.define
class _Access:
    identity: str
    family: str
    generation: int
    expires: float


@attrs.define
class _Refresh:
    identity: str
    client_id: str
    family: str
    generation: int
    #: Absolute: 15 days after the login that started the family, however often it rotates.
    expires: float
    used: bool = False


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now, for a loopback redirect URI registered in advance."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webull_timestamp(when: float) -> str:
    """``2024-09-01T19:37:22.532+0000``: Webull's ``created_at``."""
    moment = datetime.fromtimestamp(when, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class ConnectSandbox(SandboxServer):
    """Webull Connect's OAuth server, emulated on loopback.

    :param redirect_uri: the registered redirect URI; by default one on a free loopback port,
        chosen when the sandbox starts, so the loopback listener can receive it.  Assign
        :attr:`redirect_uri` to register another.
    :param auto_approve: the login page approves at once (for tests and demos).
    :param error_dialect: ``webull`` (``{error_code, message}``, 401 / 417) or ``rfc6749``
        (``{error, error_description}``, 400 / 401, ``WWW-Authenticate`` on API calls).
    :param client_auth: how the token endpoint takes the client's credentials, and the only
        way it takes them: ``client_secret_post`` (in the body, as Webull documents) or
        ``client_secret_basic`` (HTTP Basic, RFC 6749 §2.3.1).
    """

    broker: ClassVar[str] = "webull_connect"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str | None = None,
        client_secret: str | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        scope: str = DEFAULT_SCOPE,
        redirect_uri: str | None = None,
        auto_approve: bool = False,
        user: str = DEFAULT_USER,
        access_lifetime: int = 1800,
        refresh_lifetime: int = int(15 * DAY),
        code_lifetime: float = 60.0,
        timestamp_window: float = 60.0,
        error_dialect: ErrorDialect = "webull",
        client_auth: ClientAuth = "client_secret_post",
    ) -> None:
        super().__init__(clock, host=host, port=port)
        self.client_id = client_id or "sbx-client-" + secrets.token_hex(4)
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.app_key = app_key or "sbx-app-" + secrets.token_hex(6)
        self.app_secret = app_secret or secrets.token_urlsafe(24)
        self.scope = scope
        #: The registered redirect URI, matched exactly.
        self.redirect_uri: str | None = redirect_uri
        self.auto_approve = auto_approve
        #: The Webull user (``identity_id``) who approves the next login.
        self.next_user = user
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self.code_lifetime = code_lifetime
        self.timestamp_window = timestamp_window
        self.error_dialect: ErrorDialect = error_dialect
        self.client_auth: ClientAuth = client_auth

        # -- knobs ---------------------------------------------------------------------------
        #: Answer the next refreshes with these HTTP statuses, one each, before acting.
        self.fail_refresh: list[int] = []
        #: Real seconds to sleep inside a refresh, to widen races in tests.
        self.refresh_delay = 0.0
        #: Answer the next token requests with these, one each, before acting (malformed
        #: answers: HTML, empty, huge...).
        self.token_answers: list[SandboxResponse] = []
        #: Answer the next API calls with these, one each, before checking the Bearer token
        #: (a gateway's own refusals, e.g. :func:`rfc6750_invalid_token`).
        self.api_answers: list[SandboxResponse] = []

        # -- counters ------------------------------------------------------------------------
        self.refresh_calls = 0
        self.invalid_grants = 0
        self.code_exchanges = 0
        self.approvals = 0
        #: Error codes answered (``rejections["token.auth.code.error"]``).
        self.rejections: collections.Counter[str] = collections.Counter()
        #: Token requests by body kind (``form``, ``json``, ``other``); by path: count().
        self.token_bodies: collections.Counter[str] = collections.Counter()
        #: The identity each API call acted for (``None``: refused), in order.
        self.api_identities: list[str | None] = []

        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._revoked_families: set[str] = set()
        self._revoked_users: set[str] = set()
        #: Access tokens withdrawn one by one (see :meth:`reinstate_user`).
        self._revoked_access: set[str] = set()
        self._nonces = NonceLedger()

    def __repr__(self) -> str:
        try:
            where = self.base_url
        except RuntimeError:
            where = "not started"
        return f"<ConnectSandbox {where} client_id={self.client_id!r}>"

    # -- lifecycle and configuration ---------------------------------------------------------
    def start(self) -> ConnectSandbox:
        super().start()
        if self.redirect_uri is None:
            self.redirect_uri = f"http://127.0.0.1:{free_loopback_port()}/callback"
        return self

    @property
    def login_url(self) -> str:
        return self.base_url + LOGIN_PATHS[0]

    def profile_settings(self) -> dict[str, Any]:
        if self.redirect_uri is None:
            raise RuntimeError("sandbox not started")
        return {
            "base_url": self.base_url,
            "login_url": self.login_url,
            "client_id": self.client_id,
            "client_secret": Secret.from_value(self.client_secret),
            "app_key": Secret.from_value(self.app_key),
            "app_secret": Secret.from_value(self.app_secret),
            "scope": self.scope,
            "redirect_uri": self.redirect_uri,
        }

    # -- knobs -------------------------------------------------------------------------------
    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired on the server."""
        with self._lock:
            for record in self._access.values():
                record.expires = 0.0

    def revoke_user(self, identity: str) -> None:
        """Play the user withdrawing the platform's authorization: every token of theirs is
        refused, access tokens with ``TOKEN_REVOKED``."""
        with self._lock:
            self._revoked_users.add(identity)

    def reinstate_user(self, identity: str) -> None:
        """Play the user authorizing the platform again after :meth:`revoke_user`: new logins
        work, while every token issued before stays refused (access tokens with
        ``TOKEN_REVOKED``, refresh tokens as of a revoked login)."""
        with self._lock:
            self._revoked_users.discard(identity)
            for value, access in self._access.items():
                if access.identity == identity:
                    self._revoked_access.add(value)
                    self._revoked_families.add(access.family)
            for refresh in self._refresh.values():
                if refresh.identity == identity:
                    self._revoked_families.add(refresh.family)

    def family_valid(self, refresh_token: str) -> bool:
        """Whether ``refresh_token``'s family (its login) is still alive."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            return record is not None and record.family not in self._revoked_families

    def refresh_token_usable(self, refresh_token: str) -> bool:
        """Whether a refresh with ``refresh_token`` would succeed now."""
        with self._lock:
            record = self._refresh.get(refresh_token)
            return (
                record is not None
                and not record.used
                and record.family not in self._revoked_families
                and record.identity not in self._revoked_users
                and self.server_now() < record.expires
            )

    def identity_of(self, access_token: str) -> str | None:
        with self._lock:
            record = self._access.get(access_token)
            return None if record is None else record.identity

    # -- the login page ----------------------------------------------------------------------
    @route("GET", LOGIN_PATHS[0])
    @route("GET", LOGIN_PATHS[1])
    def login_page(self, request: SandboxRequest) -> SandboxResponse:
        params = dict(request.params)
        refused = self._check_authorization(params)
        if refused is not None:
            return refused
        if self.auto_approve:
            return self._approve(params, self.next_user)
        return self._page(request.path, params)

    @route("POST", LOGIN_PATHS[0])
    @route("POST", LOGIN_PATHS[1])
    def login_decision(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()
        params = {k: v for k, v in form.items() if k not in ("decision", "user")}
        refused = self._check_authorization(params)
        if refused is not None:
            return refused
        if form.get("decision") != "approve":
            return self._redirect(params, {"error": "access_denied",
                                           "error_description": "The user denied access."})
        return self._approve(params, form.get("user", "").strip() or self.next_user)

    def _check_authorization(self, params: Mapping[str, str]) -> SandboxResponse | None:
        """RFC 6749 §4.1.2.1: an unknown client or redirect URI gets a page, never a
        redirect; other mistakes are redirected back with an ``error``."""
        if params.get("client_id") != self.client_id:
            return _page_error("Unknown client_id.")
        if params.get("redirect_uri") != self.redirect_uri:
            return _page_error("redirect_uri does not match the registered one.")
        if params.get("response_type") != "code":
            return self._redirect(params, {"error": "unsupported_response_type"})
        if not params.get("state"):
            return self._redirect(params, {"error": "invalid_request",
                                           "error_description": "state is required."})
        asked = set((params.get("scope") or "").split())
        if not asked or not asked <= set(self.scope.split()):
            return self._redirect(params, {"error": "invalid_scope"})
        if "code_challenge" in params and params.get("code_challenge_method") != "S256":
            return self._redirect(params, {"error": "invalid_request",
                                           "error_description": "only S256 is supported."})
        return None

    def _approve(self, params: Mapping[str, str], identity: str) -> SandboxResponse:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Code(
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                identity=identity,
                created=self.server_now(),
                challenge=params.get("code_challenge"),
            )
            self.approvals += 1
        return self._redirect(params, {"code": code})

    def _redirect(self, params: Mapping[str, str], answer: dict[str, str]) -> SandboxResponse:
        return redirect_back(params["redirect_uri"], answer, params.get("state") or None)

    def _page(self, path: str, params: Mapping[str, str]) -> SandboxResponse:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        page = f"""<!doctype html><meta charset="utf-8"><title>Webull Connect sandbox</title>
<h1>Authorize {html.escape(self.client_id)}</h1>
<p>This platform asks for the scope <code>{html.escape(params.get("scope", ""))}</code>.</p>
<form method="post" action="{html.escape(path)}">{hidden}
<label>Webull user (identity_id)
<input name="user" value="{html.escape(self.next_user)}"></label>
<button name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button>
</form>"""
        return SandboxResponse(
            200,
            page.encode(),
            (
                ("Content-Type", "text/html; charset=utf-8"),
                ("Cache-Control", "no-store"),
                ("Referrer-Policy", "no-referrer"),
                ("X-Frame-Options", "DENY"),
            ),
        )

    # -- the token endpoint ------------------------------------------------------------------
    @route("POST", TOKEN_PATHS[0])
    @route("POST", TOKEN_PATHS[1])
    def token(self, request: SandboxRequest) -> SandboxResponse:
        rejection = self._authenticate(request)
        if rejection is not None:
            return self._gateway_error(rejection)
        kind, fields = _token_fields(request)
        with self._lock:
            self.token_bodies[kind] += 1
        if fields is None:
            return self.error(BAD_PARAMETERS)
        client_id = self._client(fields, request)
        if client_id is None or request.headers.get("x-app-key", "") != self.app_key:
            return self.error(CLIENT_INVALID)
        # The grants compare the client a code or refresh token was issued to with this one.
        fields = {**fields, "client_id": client_id}
        with self._lock:
            override = self.token_answers.pop(0) if self.token_answers else None
        if override is not None:
            return override
        grant = fields.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(fields)
        if grant == "refresh_token":
            return self._refresh_grant(fields)
        return self.error(BAD_PARAMETERS)

    def _authenticate(self, request: SandboxRequest) -> WebullError | None:
        """Webull's gateway: the HMAC signature, its timestamp window, nonce replay."""
        return gateway_check(
            request,
            secret_for=lambda key: self.app_secret if key == self.app_key else None,
            nonces=self._nonces,
            now=self.server_now(),
            window=self.timestamp_window,
        )

    def _client(self, fields: Mapping[str, str], request: SandboxRequest) -> str | None:
        """The client the request authenticates as, by :attr:`client_auth` alone (RFC 6749
        §2.3: one method per request); ``None`` when it does not."""
        if self.client_auth == "client_secret_basic":
            if "client_secret" in fields:
                return None
            credentials = _basic_credentials(request.header("authorization") or "")
            if credentials is None:
                return None
            client_id, given = credentials
            if fields.get("client_id", client_id) != client_id:
                return None
        else:
            if request.header("authorization") is not None:
                return None
            client_id, given = fields.get("client_id", ""), fields.get("client_secret", "")
        if client_id == self.client_id and hmac.compare_digest(
            given.encode(), self.client_secret.encode()
        ):
            return client_id
        return None

    def _code_grant(self, fields: Mapping[str, str]) -> SandboxResponse:
        now = self.server_now()
        with self._lock:
            self.code_exchanges += 1
            record = self._codes.get(fields.get("code", ""))
            if (
                record is None
                or record.used
                or now >= record.created + self.code_lifetime
                or record.client_id != fields.get("client_id")
            ):
                error = CODE_INVALID
            elif "redirect_uri" in fields and fields["redirect_uri"] != record.redirect_uri:
                error = REDIRECT_MISMATCH
            elif record.challenge is not None and not _pkce_ok(
                fields.get("code_verifier"), record.challenge
            ):
                error = CODE_INVALID
            else:
                record.used = True
                return self._issue(record.identity, secrets.token_hex(8), 1,
                                   now + self.refresh_lifetime, now)
        return self.error(error)

    def _refresh_grant(self, fields: Mapping[str, str]) -> SandboxResponse:
        with self._lock:
            self.refresh_calls += 1
            failing = self.fail_refresh.pop(0) if self.fail_refresh else None
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        if failing is not None:
            return self.error(WebullError(failing, "SERVICE_UNAVAILABLE",
                                          "The service is temporarily unavailable."))
        now = self.server_now()
        with self._lock:
            record = self._refresh.get(fields.get("refresh_token", ""))
            if (
                record is None
                or record.client_id != fields.get("client_id")
                or record.family in self._revoked_families
                or record.identity in self._revoked_users
            ):
                error = REFRESH_INVALID
            elif record.used:
                # A rotated refresh token came back: assume theft, end the whole login.
                self._revoked_families.add(record.family)
                error = REFRESH_REUSED
            elif now >= record.expires:
                error = REFRESH_EXPIRED
            else:
                record.used = True
                return self._issue(record.identity, record.family, record.generation + 1,
                                   record.expires, now)
            self.invalid_grants += 1
        return self.error(error)

    def _issue(self, identity: str, family: str, generation: int, refresh_expires: float,
               now: float) -> SandboxResponse:
        """A new generation (caller holds the lock), answered in Webull's all-strings shape."""
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = _Access(identity, family, generation, now + self.access_lifetime)
        self._refresh[refresh] = _Refresh(identity, self.client_id, family, generation,
                                          refresh_expires)
        body = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": str(self.access_lifetime),
            "rt_expires_in": str(max(0, int(refresh_expires - now))),
            "refresh_token": refresh,
            "created_at": webull_timestamp(now),
            "identity_id": identity,
        }
        return SandboxResponse.json(body, headers=(("Cache-Control", "no-store"),
                                                   ("Pragma", "no-cache")))

    # -- the API -----------------------------------------------------------------------------
    @route("GET", ACCOUNT_LIST)
    def account_list(self, request: SandboxRequest) -> SandboxResponse:
        identity, refusal = self._bearer(request)
        if refusal is not None:
            return refusal
        assert identity is not None
        return SandboxResponse.json([
            {
                "account_id": f"{identity}-1",
                "account_number": f"5SB-{identity}",
                "account_type": "CASH",
                "account_class": "INDIVIDUAL_CASH",
                "account_label": f"Sandbox account of {identity}",
            }
        ])

    def _bearer(self, request: SandboxRequest) -> tuple[str | None, SandboxResponse | None]:
        with self._lock:
            override = self.api_answers.pop(0) if self.api_answers else None
        if override is not None:
            return None, override
        token = bearer_token(request) or ""
        now = self.server_now()
        with self._lock:
            record = self._access.get(token)
            identity = None
            # A family revoked for a reused refresh token ends its access tokens too: "every
            # token of this authorization was revoked", as the refusal says.
            if record is not None and (record.identity in self._revoked_users
                                       or token in self._revoked_access
                                       or record.family in self._revoked_families):
                error = codes.TOKEN_REVOKED
            elif record is None or now >= record.expires:
                error = codes.INVALID_TOKEN
            else:
                error = None
                identity = record.identity
            self.api_identities.append(identity)
        if error is None:
            return identity, None
        if self.error_dialect == "rfc6749" and error is codes.INVALID_TOKEN:
            with self._lock:
                self.rejections["invalid_token"] += 1
            return None, SandboxResponse.json(
                {"error": "invalid_token", "error_description": error.message},
                status=401,
                headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),),
            )
        return None, self._gateway_error(error)

    # -- answers -----------------------------------------------------------------------------
    def error(self, error: WebullError) -> SandboxResponse:
        """A token endpoint refusal in the configured dialect."""
        if self.error_dialect == "rfc6749" and error.code in _RFC_ERRORS:
            name, status = _RFC_ERRORS[error.code]
            with self._lock:
                self.rejections[name] += 1
            return SandboxResponse.json({"error": name, "error_description": error.message},
                                        status=status)
        return self._gateway_error(error)

    def _gateway_error(self, error: WebullError) -> SandboxResponse:
        with self._lock:
            self.rejections[error.code] += 1
        return SandboxResponse.json(error.body(), status=error.status)


def _page_error(message: str) -> SandboxResponse:
    page = (f'<!doctype html><meta charset="utf-8"><title>Authorization error</title>'
            f"<p>{html.escape(message)}</p>")
    return SandboxResponse.html(page, status=400)


def _token_fields(request: SandboxRequest) -> tuple[str, dict[str, str] | None]:
    """The body's kind (by ``Content-Type``) and the token request's fields; ``None`` if the
    body is malformed or a field is not a string."""
    ctype = (request.header("content-type") or "").split(";")[0].strip().lower()
    kind = {"application/json": "json", "application/x-www-form-urlencoded": "form"}.get(
        ctype, "other"
    )
    try:
        if kind == "json":
            data = json.loads(request.body) if request.body else None
        elif kind == "form":
            data = request.form()
        else:
            return kind, None
    except (ValueError, UnicodeDecodeError):
        return kind, None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return kind, None
    return kind, data


def _basic_credentials(authorization: str) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from ``Basic`` credentials, each part form-urlencoded
    (RFC 6749 §2.3.1)."""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, colon, secret = pair.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def _pkce_ok(verifier: str | None, challenge: str) -> bool:
    if not verifier:
        return False
    try:
        derived = s256(verifier)
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(derived.encode(), challenge.encode())


# -- command line ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m brokerauth_webull_connect.sandbox.server``: serve until Ctrl-C, then exit 0.

    Ctrl-C is taken over before the arguments are even read, so that it stops cleanly at any
    moment: before the banner, during it, while serving, while stopping."""
    return serve_until_interrupted(lambda: _from_command_line(argv), banner=_print_banner)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options, each ``dest`` a keyword of :class:`ConnectSandbox`."""
    parser.add_argument("--redirect-uri",
                        help="the registered redirect URI (default: a free loopback port)")
    parser.add_argument("--auto-approve", action="store_true",
                        help="approve logins at once instead of showing the Approve page")
    parser.add_argument("--user", default=DEFAULT_USER,
                        help="the identity_id of the user who approves")
    parser.add_argument("--scope", default=DEFAULT_SCOPE, help="the app's scope")
    parser.add_argument("--client-auth", choices=("client_secret_post", "client_secret_basic"),
                        default="client_secret_post",
                        help="how the token endpoint takes the client secret: in the body "
                        "(default, as Webull documents) or with HTTP Basic")
    for name in ("client-id", "client-secret", "app-key", "app-secret"):
        parser.add_argument(f"--{name}", help=f"the {name.replace('-', ' ')} (default: random)")


def _from_command_line(argv: Sequence[str] | None) -> ConnectSandbox:
    return from_command_line(
        ConnectSandbox, add_arguments, argv,
        prog="python -m brokerauth_webull_connect.sandbox.server",
        description="Serve a local emulator of Webull Connect's OAuth server on 127.0.0.1.",
    )


def _print_banner(sandbox: ConnectSandbox) -> None:
    out = sys.stdout
    # The credentials are the sandbox's own throwaway ones: printing them is the point.
    print(f"Webull Connect sandbox listening on {sandbox.base_url}", file=out)
    print(f"  login page:    {sandbox.login_url}", file=out)
    print(f"  redirect URI:  {sandbox.redirect_uri}", file=out)
    print(f"  client id:     {sandbox.client_id}", file=out)
    print(f"  client secret: {sandbox.client_secret}", file=out)
    print(f"  app key:       {sandbox.app_key}", file=out)
    print(f"  app secret:    {sandbox.app_secret}", file=out)
    print(f"  scope:         {sandbox.scope}", file=out)
    print(
        "\nexport WEBULL_CONNECT_CLIENT_SECRET=... WEBULL_APP_KEY=... WEBULL_APP_SECRET=... "
        "with the values above, then:\n\n"
        "[profiles.connect-sandbox]\n"
        'broker = "webull_connect"\n'
        f'base_url = "{sandbox.base_url}"\n'
        f'login_url = "{sandbox.login_url}"\n'
        f'client_id = "{sandbox.client_id}"\n'
        'client_secret = { env = "WEBULL_CONNECT_CLIENT_SECRET" }\n'
        'app_key = { env = "WEBULL_APP_KEY" }\n'
        'app_secret = { env = "WEBULL_APP_SECRET" }\n'
        f'scope = "{sandbox.scope}"\n'
        f'redirect_uri = "{sandbox.redirect_uri}"\n'
        + (f'token_auth_method = "{sandbox.client_auth}"\n'
           if sandbox.client_auth != "client_secret_post" else ""),
        file=out,
    )
    print("Ctrl-C stops.", file=out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
