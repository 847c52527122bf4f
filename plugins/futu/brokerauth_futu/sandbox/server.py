"""A local emulator of Futu OpenAPI's authentication, for tests and the demo.

It plays the server side of Futu's OAuth and API-key authentication, strictly:

* ``POST /oauth2/register`` — RFC 7591 registration of public clients, answered like the
  example in Futu's docs (``registration_access_token``, ``registration_client_uri``...);
* ``GET /.well-known/oauth-authorization-server[/oauth2]`` — RFC 8414 metadata (a knob hides it);
* ``GET /oauth2/authorize`` (also ``/oauth2/authorize/confirm``, the ``webapi`` layout; which
  one is live is a setting) — exact redirect match, PKCE S256 only (``plain`` or no challenge
  refused), a ``state`` required; with ``auto_approve`` it redirects with a code at once (what
  :class:`brokerauth_sandbox.server.HeadlessBrowser` follows), else it shows an approve/deny page;
* ``POST /oauth2/token`` — ``authorization_code`` (single-use codes that expire on the
  sandbox's clock, verifier checked; a code used twice revokes what it issued) and
  ``refresh_token`` (rotating or not; a rotated refresh token used again revokes the grant);
* ``POST /oauth2/revoke`` — RFC 7009 (revoking either token ends the grant);
* ``GET|POST /v1/quote/snapshot`` (and ``GET /v1/account/info``) — accepts an OAuth Bearer
  token, or the legacy API-key signature checked against the sandbox's clock (60 s window);
* ``GET /v1/token/refresh?expired_at=`` — signed; issues a new legacy token, the old one dies;
* ``GET /v1/socket/token`` — authenticated like the API; issues a one-time WebSocket password
  (``{"otp", "limit", "online"}``, as Longbridge documents it), which the loopback WebSocket
  gateway (:mod:`brokerauth_futu.sandbox.gateway`, at :meth:`FutuSandbox.ws_url`) accepts once
  in a stream's auth request.

Knobs: ``ws_limit`` and ``ws_online`` (the connection counts the socket token answer
gives), :meth:`FutuSandbox.revoke_credential`, :meth:`FutuSandbox.revoke_all_grants`,
:meth:`FutuSandbox.expire_access_tokens`, ``rotate_refresh``, ``auto_approve``,
``serve_metadata``, ``clock_offset`` (the server's clock against the client's, also in
``Date``), ``token_failures``; and counts in :attr:`FutuSandbox.stats`.

Run it by hand with ``python -m brokerauth_futu.sandbox.server``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hmac
import html
import json
import re
import secrets
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import attrs
from brokerauth.contract.clock import Clock
from brokerauth.toolkit.oauth import s256
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.authserver import bearer_token, redirect_back
from brokerauth_sandbox.server import (
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
    from_command_line,
    route,
    serve_until_interrupted,
)

from brokerauth_futu import codes, signing
from brokerauth_futu.sandbox import gateway as ws_gateway

OAUTH_PREFIX: Final = "/oauth2"
AUTHORIZE_PATHS: Final = ("/oauth2/authorize", "/oauth2/authorize/confirm")
_CHALLENGE: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER: Final = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_NO_STORE: Final = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


@attrs.define
class _Client:
    client_id: str
    redirect_uris: tuple[str, ...]
    name: str


@attrs.define
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    expires_at: float
    scope: str | None
    used: bool = False
    grant: str | None = None


@attrs.define
class _Grant:
    client_id: str
    scope: str | None
    revoked: bool = False


@attrs.define
class _Access:
    grant: str
    expires_at: float


@attrs.define
class _Refresh:
    grant: str
    used: bool = False


@attrs.define
class _Pending:
    client_id: str
    redirect_uri: str
    challenge: str
    state: str
    scope: str | None


class FutuSandbox(SandboxServer):
    broker = "futu"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app_key: str | None = None,
        app_secret: str | None = None,
        access_token: str | None = None,
        access_lifetime: int = 7200,
        code_lifetime: int = 60,
        rotate_refresh: bool = True,
        auto_approve: bool = True,
        serve_metadata: bool = True,
        authorize_path: str = "/oauth2/authorize",
        signature_path: Literal["target", "path"] = "target",
        profile_mode: Literal["api_key", "oauth"] = "api_key",
    ) -> None:
        super().__init__(clock, host=host, port=port)
        if authorize_path not in AUTHORIZE_PATHS:
            raise ValueError(f"authorize_path must be one of {AUTHORIZE_PATHS}")
        self.app_key = app_key or "futu-app-" + secrets.token_hex(6)
        self.app_secret = app_secret or secrets.token_urlsafe(24)
        self.access_lifetime = access_lifetime
        self.code_lifetime = code_lifetime
        self.rotate_refresh = rotate_refresh
        self.auto_approve = auto_approve
        self.serve_metadata = serve_metadata
        self.authorize_path = authorize_path
        self.signature_path: Literal["target", "path"] = signature_path
        #: Which mode :meth:`profile_settings` describes (``api_key`` logs in without a person).
        self.profile_mode: Literal["api_key", "oauth"] = profile_mode
        #: The client :meth:`profile_settings` names in ``oauth`` mode, and its redirect URI.
        self.profile_client_id: str | None = None
        self.profile_redirect_uri = "http://127.0.0.1:60355/callback"
        #: Fields Futu's token answers carry beyond RFC 6749 (futu-cli's ``TokenResponse``),
        #: added to every token answer; ``{}`` for a server that sends none.
        self.account_facts: dict[str, Any] = {
            "futu_id": "10000001",
            "account": {"account_no": "SANDBOX-0001", "account_type": "margin",
                        "name": "Sandbox User"},
            "quote_permissions": ["us:lv1", "hk:lv2"],
        }
        #: Answers for the next token-endpoint calls instead of the real ones (a failing or
        #: broken server): a status gives an RFC 6749 error, a SandboxResponse is sent as is.
        self.token_failures: list[int | SandboxResponse] = []
        #: Events counted: register, authorize, code_exchange, refresh, invalid_grant, revoke,
        #: legacy_refresh, api_ok, clock_skew, bad_signature, revoked_refusal, ...
        self.stats: collections.Counter[str] = collections.Counter()
        #: The JSON bodies of registration requests, as received (they hold no secret).
        self.registration_requests: list[Any] = []
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._pending: dict[str, _Pending] = {}
        #: Legacy access tokens in force, with their expiry (``None``: none set).
        self._legacy: dict[str, float | None] = {
            access_token or secrets.token_urlsafe(32): None
        }
        self.credential_revoked = False
        #: One-time WebSocket passwords issued and not yet used, with who they were for.
        self._otps: dict[str, str] = {}
        #: The connection limit and count the socket token answer reports.
        self.ws_limit = 10
        self.ws_online = 0
        #: The auth requests the gateway accepted: (kind, metadata).
        self.ws_sessions: list[tuple[str, dict[str, str]]] = []
        self._gateway = ws_gateway.Gateway(self._check_otp, host=host)
        self._own_folder: str | None = None
        #: The token folder :meth:`profile_settings` points profiles at, so that sandbox logins
        #: never mix with real ones in ~/.futu; a private temp folder unless set.
        self.token_dir: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FutuSandbox:
        super().start()
        self._gateway.start()
        if self.token_dir is None:
            self._own_folder = tempfile.mkdtemp(prefix="futu-sandbox-tokens-")
            self.token_dir = self._own_folder
        return self

    def stop(self) -> None:
        super().stop()
        self._gateway.stop()
        if self._own_folder is not None:
            shutil.rmtree(self._own_folder, ignore_errors=True)
            if self.token_dir == self._own_folder:
                self.token_dir = None
            self._own_folder = None

    @property
    def oauth_base_url(self) -> str:
        return self.base_url + OAUTH_PREFIX

    @property
    def access_token(self) -> str:
        """The legacy access token currently in force (the newest one)."""
        with self._lock:
            return next(reversed(self._legacy))

    def profile_settings(self) -> dict[str, Any]:
        """Settings pointing a profile here, in :attr:`profile_mode` (the store follows
        ``token_dir``)."""
        folder = self.token_dir
        common: dict[str, Any] = {"base_url": self.base_url, **self.ws_settings()}
        if folder is not None:
            common["token_dir"] = folder
        if self.profile_mode == "api_key":
            return {
                **common,
                "mode": "api_key",
                "app_key": Secret.from_value(self.app_key),
                "app_secret": Secret.from_value(self.app_secret),
                "access_token": Secret.from_value(self.access_token),
            }
        # No oauth_base_url: the profile finds the OAuth server beside base_url, through the
        # RFC 8414 metadata served there, as a profile pointed at a sandbox should.
        settings = {**common, "redirect_uri": self.profile_redirect_uri}
        if self.profile_client_id is not None:
            settings["client_id"] = self.profile_client_id
        return settings

    def ws_url(self, kind: Literal["quote", "trade"]) -> str:
        """The loopback WebSocket gateway's URL for ``kind`` (a profile's ``*_ws_url``)."""
        return self._gateway.url(kind)

    def ws_settings(self) -> dict[str, str]:
        """``quote_ws_url`` and ``trade_ws_url`` pointing at the gateway, and the handshake
        it speaks (``ws_handshake``: Longbridge's, opted into)."""
        return {"quote_ws_url": self.ws_url("quote"), "trade_ws_url": self.ws_url("trade"),
                "ws_handshake": "longbridge-otp"}

    @property
    def ws_languages(self) -> list[str]:
        """The ``Accept-Language`` of each WebSocket upgrade the gateway accepted."""
        return list(self._gateway.languages)

    def more_profiles(self) -> dict[str, dict[str, Any]]:
        """The profile of the other mode, keyed by the suffix of its name (``key`` for the
        API key, ``oauth``), which ``brokerauth sandbox futu`` prints too."""
        other: Literal["api_key", "oauth"] = (
            "oauth" if self.profile_mode == "api_key" else "api_key")
        mode, self.profile_mode = self.profile_mode, other
        try:
            return {"key" if other == "api_key" else "oauth": self.profile_settings()}
        finally:
            self.profile_mode = mode

    # -- knobs -------------------------------------------------------------------------------
    def register_client(self, redirect_uris: Sequence[str], name: str = "test") -> str:
        """Register a public client directly (as if done earlier); returns its id."""
        client_id = str(uuid.uuid4())
        with self._lock:
            self._clients[client_id] = _Client(client_id, tuple(redirect_uris), name)
        return client_id

    def issue_tokens(self, client_id: str) -> dict[str, Any]:
        """Tokens for ``client_id`` as if its user had logged in (to seed an SDK file)."""
        with self._lock:
            grant = secrets.token_hex(8)
            self._grants[grant] = _Grant(client_id, None)
            body = self._issue(grant, with_refresh=True)
        return {
            "client_id": client_id,
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "expires_at": int(self.server_now()) + self.access_lifetime,
        }

    def revoke_credential(self) -> None:
        """Revoke the legacy credential, as the developer portal does."""
        with self._lock:
            self.credential_revoked = True

    def revoke_all_grants(self) -> None:
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True

    def expire_access_tokens(self) -> None:
        """The server forgets every OAuth access token before its announced expiry."""
        with self._lock:
            for access in self._access.values():
                access.expires_at = 0.0

    def clients(self) -> dict[str, tuple[str, ...]]:
        """Registered client ids and their redirect URIs."""
        with self._lock:
            return {c.client_id: c.redirect_uris for c in self._clients.values()}

    def legacy_token_valid(self, token: str) -> bool:
        with self._lock:
            return self._legacy_ok(token)

    def access_token_valid(self, token: str) -> bool:
        with self._lock:
            return self._access_ok(token) is not None

    def refresh_token_valid(self, token: str) -> bool:
        with self._lock:
            found = self._refresh.get(token)
            return found is not None and not found.used and not self._grants[found.grant].revoked

    def _count(self, event: str) -> None:
        with self._lock:
            self.stats[event] += 1

    # -- RFC 8414 ----------------------------------------------------------------------------
    @route("GET", "/.well-known/oauth-authorization-server*")
    def metadata(self, request: SandboxRequest) -> SandboxResponse:
        suffix = request.path[len("/.well-known/oauth-authorization-server"):]
        if not self.serve_metadata or suffix not in ("", OAUTH_PREFIX):
            return self.not_found(request)
        base = self.oauth_base_url
        return SandboxResponse.json({
            "issuer": base,
            "authorization_endpoint": self.base_url + self.authorize_path,
            "token_endpoint": base + "/token",
            "revocation_endpoint": base + "/revoke",
            "registration_endpoint": base + "/register",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
        })

    # -- RFC 7591 ----------------------------------------------------------------------------
    @route("POST", "/oauth2/register")
    def register(self, request: SandboxRequest) -> SandboxResponse:
        try:
            body = request.json()
        except ValueError:
            body = None
        with self._lock:
            self.registration_requests.append(body)
        if not isinstance(body, dict):
            return _oauth_error(400, "invalid_client_metadata", "the body must be a JSON object")
        uris = body.get("redirect_uris")
        if (
            not isinstance(uris, list)
            or not uris
            or not all(isinstance(u, str) and _loopback_uri(u) for u in uris)
        ):
            return _oauth_error(400, "invalid_redirect_uri",
                                "redirect_uris must be loopback http URIs")
        if body.get("token_endpoint_auth_method") != "none":
            return _oauth_error(400, "invalid_client_metadata",
                                "only public clients (token_endpoint_auth_method none)")
        grants = body.get("grant_types")
        if not isinstance(grants, list) or not set(grants) <= {"authorization_code",
                                                                "refresh_token"}:
            return _oauth_error(400, "invalid_client_metadata", "unsupported grant_types")
        if body.get("response_types") != ["code"]:
            return _oauth_error(400, "invalid_client_metadata", "response_types must be [code]")
        name = body.get("client_name")
        if not isinstance(name, str) or not name:
            return _oauth_error(400, "invalid_client_metadata", "client_name is required")
        client_id = self.register_client(uris, name)
        issued = int(self.server_now())
        self._count("register")
        return SandboxResponse.json(
            {
                "client_id": client_id,
                "client_id_issued_at": issued,
                "client_secret_expires_at": issued + 3600,
                "client_name": name,
                "redirect_uris": uris,
                "grant_types": grants,
                "token_endpoint_auth_method": "none",
                "response_types": ["code"],
                "registration_access_token": base64.b64encode(secrets.token_bytes(32)).decode(),
                "registration_client_uri": f"{self.oauth_base_url}/register/{client_id}",
            },
            status=201,
            headers=_NO_STORE,
        )

    # -- authorization -----------------------------------------------------------------------
    @route("GET", "/oauth2/authorize")
    @route("GET", "/oauth2/authorize/confirm")
    def authorize(self, request: SandboxRequest) -> SandboxResponse:
        if request.path != self.authorize_path:
            return self.not_found(request)
        self._count("authorize")
        params = dict(request.params)
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        with self._lock:
            client = self._clients.get(client_id)
        # RFC 6749 §4.1.2.1: without a known client and its exact redirect URI, never
        # redirect (that would send the user anywhere an attacker likes).
        if client is None:
            return _page(400, "Unknown client", "This application is not registered.")
        if redirect_uri not in client.redirect_uris:
            return _page(400, "Wrong redirect", "The redirect URI is not registered exactly.")
        state = params.get("state")
        if params.get("response_type") != "code":
            return redirect_back(redirect_uri, {"error": "unsupported_response_type"}, state)
        if params.get("code_challenge_method") != "S256":
            self._count("pkce_refused")
            return redirect_back(
                redirect_uri, {"error": "invalid_request",
                               "error_description": "PKCE S256 is required"}, state)
        challenge = params.get("code_challenge", "")
        if not _CHALLENGE.fullmatch(challenge):
            self._count("pkce_refused")
            return redirect_back(redirect_uri, {"error": "invalid_request",
                                                 "error_description": "bad code_challenge"}, state)
        if not state:
            return redirect_back(redirect_uri, {"error": "invalid_request",
                                                 "error_description": "state is required"}, None)
        pending = _Pending(client_id, redirect_uri, challenge, state, params.get("scope"))
        if self.auto_approve:
            return self._approve(pending)
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[request_id] = pending
        return _approval_page(client.name, request_id)

    @route("POST", "/oauth2/authorize/decision")
    def decision(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()
        with self._lock:
            pending = self._pending.pop(form.get("request_id", ""), None)
        if pending is None:
            return _page(400, "Expired", "This authorization request is unknown or was used.")
        if form.get("decision") != "approve":
            return redirect_back(pending.redirect_uri, {"error": "access_denied"}, pending.state)
        return self._approve(pending)

    def _approve(self, pending: _Pending) -> SandboxResponse:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                pending.client_id, pending.redirect_uri, pending.challenge,
                self.server_now() + self.code_lifetime, pending.scope,
            )
        return redirect_back(pending.redirect_uri, {"code": code}, pending.state)

    # -- token endpoint ----------------------------------------------------------------------
    @route("POST", "/oauth2/token")
    def token(self, request: SandboxRequest) -> SandboxResponse:
        with self._lock:
            failing = self.token_failures.pop(0) if self.token_failures else None
        if isinstance(failing, SandboxResponse):
            return failing
        if failing is not None:
            return _oauth_error(failing, "temporarily_unavailable", "try again later")
        form = request.form()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        return _oauth_error(400, "unsupported_grant_type", "grant_type not supported")

    def _code_grant(self, form: dict[str, str]) -> SandboxResponse:
        self._count("code_exchange")
        verifier = form.get("code_verifier", "")
        with self._lock:
            code = self._codes.get(form.get("code", ""))
            if code is None:
                return self._invalid_grant("unknown authorization code")
            if code.used:
                # RFC 6749 §4.1.2: a code used twice may be stolen; end what it issued.
                if code.grant is not None:
                    self._grants[code.grant].revoked = True
                return self._invalid_grant("authorization code already used")
            code.used = True
            if self.server_now() > code.expires_at:
                return self._invalid_grant("authorization code expired")
            if form.get("client_id") != code.client_id:
                return self._invalid_grant("the code was issued to another client")
            if form.get("redirect_uri") != code.redirect_uri:
                return self._invalid_grant("redirect_uri does not match the authorization")
            if not _VERIFIER.fullmatch(verifier):
                self.stats["pkce_refused"] += 1
                return self._invalid_grant("code_verifier missing or malformed")
            if not hmac.compare_digest(s256(verifier), code.challenge):
                self.stats["pkce_refused"] += 1
                return self._invalid_grant("code_verifier does not match the challenge")
            grant = secrets.token_hex(8)
            self._grants[grant] = _Grant(code.client_id, code.scope)
            code.grant = grant
            return SandboxResponse.json(self._issue(grant, with_refresh=True),
                                        headers=_NO_STORE)

    def _refresh_grant(self, form: dict[str, str]) -> SandboxResponse:
        with self._lock:
            self.stats["refresh"] += 1
            presented = form.get("refresh_token", "")
            found = self._refresh.get(presented)
            if found is None or self._grants[found.grant].revoked:
                return self._invalid_grant("refresh token unknown or revoked")
            grant = self._grants[found.grant]
            if form.get("client_id") != grant.client_id:
                return self._invalid_grant("the refresh token was issued to another client")
            if found.used:
                # A rotated refresh token presented again: assume theft, end the grant.
                grant.revoked = True
                return self._invalid_grant("refresh token reused; the grant is revoked")
            if self.rotate_refresh:
                found.used = True
            body = self._issue(found.grant, with_refresh=self.rotate_refresh)
        return SandboxResponse.json(body, headers=_NO_STORE)

    def _issue(self, grant: str, *, with_refresh: bool) -> dict[str, Any]:
        # Caller holds the lock.
        access = secrets.token_urlsafe(32)
        self._access[access] = _Access(grant, self.server_now() + self.access_lifetime)
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_lifetime,
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._refresh[refresh] = _Refresh(grant)
            body["refresh_token"] = refresh
        scope = self._grants[grant].scope
        if scope:
            body["scope"] = scope
        # Beyond RFC 6749, as Futu's answers carry them (futu-cli's TokenResponse).
        body.update(self.account_facts)
        return body

    def _invalid_grant(self, description: str) -> SandboxResponse:
        # Caller holds the lock.
        self.stats["invalid_grant"] += 1
        return _oauth_error(400, "invalid_grant", description)

    # -- RFC 7009 ----------------------------------------------------------------------------
    @route("POST", "/oauth2/revoke")
    def revoke(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()
        value = form.get("token", "")
        with self._lock:
            self.stats["revoke"] += 1
            found = self._refresh.get(value) or self._access.get(value)
            if found is None:
                return SandboxResponse(200, b"", _NO_STORE)  # RFC 7009 §2.2: unknown is fine
            grant = self._grants[found.grant]
            if form.get("client_id") != grant.client_id:
                return _oauth_error(400, "invalid_client", "the token belongs to another client")
            grant.revoked = True
        return SandboxResponse(200, b"", _NO_STORE)

    # -- the API -----------------------------------------------------------------------------
    @route("GET", "/v1/quote/snapshot")
    @route("POST", "/v1/quote/snapshot")
    @route("GET", "/v1/account/info")
    def api(self, request: SandboxRequest) -> SandboxResponse:
        refused, who = self._authenticate(request)
        if refused is not None:
            return refused
        self._count("api_ok")
        data: dict[str, Any] = {"auth": who, "path": request.path}
        if request.path == "/v1/quote/snapshot":
            data["snapshots"] = [{"symbol": "US.AAPL", "last_price": 187.5}]
        return _futu_ok(data)

    @route("GET", "/v1/token/refresh")
    def legacy_refresh(self, request: SandboxRequest) -> SandboxResponse:
        if request.header(signing.HEADER_KEY) is None:
            return _futu_error(401, codes.BAD_REQUEST, "the token refresh needs the API key")
        refused, _ = self._authenticate(request)
        if refused is not None:
            return refused
        given = request.param("expired_at") or ""
        try:
            until = datetime.fromisoformat(given.replace("Z", "+00:00"))
        except ValueError:
            return _futu_error(400, codes.BAD_REQUEST, "expired_at must be an RFC 3339 time")
        if until.tzinfo is None or until.timestamp() <= self.server_now():
            return _futu_error(400, codes.BAD_REQUEST, "expired_at must be a future RFC 3339 time")
        old = bearer_token(request)
        new = secrets.token_urlsafe(32)
        with self._lock:
            self.stats["legacy_refresh"] += 1
            self._legacy.pop(old or "", None)
            self._legacy[new] = until.timestamp()
        stamp = until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _futu_ok({"token": new, "expired_at": stamp})

    @route("GET", "/v1/socket/token")
    def socket_token(self, request: SandboxRequest) -> SandboxResponse:
        refused, who = self._authenticate(request)
        if refused is not None:
            return refused
        otp = secrets.token_urlsafe(24)
        with self._lock:
            self.stats["socket_token"] += 1
            self._otps[otp] = who
            limit, online = self.ws_limit, self.ws_online
        return _futu_ok({"otp": otp, "limit": limit, "online": online})

    def _check_otp(
        self, kind: str, otp: str, metadata: Any
    ) -> tuple[str, int, int, int] | None:
        with self._lock:
            if self._otps.pop(otp, None) is None:  # unknown, or used already: one use only
                self.stats["ws_auth_refused"] += 1
                return None
            self.stats["ws_auth_ok"] += 1
            self.ws_sessions.append((kind, dict(metadata)))
            expires_ms = int((self.server_now() + 86400) * 1000)
            return ws_gateway.new_session_id(), expires_ms, self.ws_limit, self.ws_online + 1

    def _authenticate(self, request: SandboxRequest) -> tuple[SandboxResponse | None, str]:
        if request.header(signing.HEADER_KEY) is not None:
            return self._verify_signature(request), "api_key"
        token = bearer_token(request)
        if token is None:
            return SandboxResponse.json(
                {"error": "invalid_request", "error_description": "no credentials"},
                status=401, headers=(("WWW-Authenticate", 'Bearer realm="futu"'),),
            ), "none"
        with self._lock:
            access = self._access_ok(token)
        if access is None:
            self._count("invalid_token")
            return SandboxResponse.json(
                {"error": "invalid_token", "error_description": "access token expired or unknown"},
                status=401,
                headers=(("WWW-Authenticate", 'Bearer realm="futu", error="invalid_token"'),),
            ), "oauth"
        return None, "oauth"

    def _access_ok(self, token: str) -> _Access | None:
        access = self._access.get(token)
        if access is None or self._grants[access.grant].revoked:
            return None
        if access.expires_at <= self.server_now():
            return None
        return access

    def _legacy_ok(self, token: str) -> bool:
        if token not in self._legacy:
            return False
        expiry = self._legacy[token]
        return expiry is None or expiry > self.server_now()

    def _verify_signature(self, request: SandboxRequest) -> SandboxResponse | None:
        if request.header(signing.HEADER_KEY) != self.app_key:
            return _futu_error(401, codes.APP_KEY_INVALID, "unknown app key")
        stamp = request.header(signing.HEADER_TIMESTAMP) or ""
        if not stamp.isdigit():
            return _futu_error(400, codes.BAD_REQUEST, "X-Api-Timestamp missing or malformed")
        if abs(self.server_now() - int(stamp)) > signing.TIMESTAMP_WINDOW:
            self._count("clock_skew")
            return _futu_error(401, codes.TIMESTAMP_EXPIRED,
                               "timestamp outside the 60-second window")
        path = signing.signed_path(request.path, request.query, self.signature_path)
        expected = signing.signature(
            self.app_secret, signing.string_to_sign(request.method, path, stamp, request.body)
        )
        if not hmac.compare_digest(expected, request.header(signing.HEADER_SIGNATURE) or ""):
            self._count("bad_signature")
            return _futu_error(401, codes.SIGNATURE_INVALID, "signature does not match")
        with self._lock:
            revoked = self.credential_revoked
            token_ok = self._legacy_ok(bearer_token(request) or "")
        if revoked:
            self._count("revoked_refusal")
            return _futu_error(401, codes.CREDENTIAL_REVOKED, "credential revoked")
        if not token_ok:
            self._count("legacy_token_refused")
            return _futu_error(401, codes.TOKEN_INVALID, "access token invalid or expired")
        return None


# --- helpers ---------------------------------------------------------------------------------


def _loopback_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _oauth_error(status: int, error: str, description: str) -> SandboxResponse:
    return SandboxResponse.json({"error": error, "error_description": description},
                                status=status, headers=_NO_STORE)


def _futu_ok(data: Any) -> SandboxResponse:
    return SandboxResponse.json({"code": 0, "message": "success", "data": data})


def _futu_error(status: int, code: int, message: str) -> SandboxResponse:
    return SandboxResponse.json({"code": code, "message": message, "data": None}, status=status)


def _page(status: int, title: str, text: str) -> SandboxResponse:
    return SandboxResponse.html(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>",
        status=status,
    )


def _approval_page(client_name: str, request_id: str) -> SandboxResponse:
    name = html.escape(client_name)
    rid = html.escape(request_id, quote=True)
    form = (
        "<form method='post' action='/oauth2/authorize/decision' style='display:inline'>"
        f"<input type='hidden' name='request_id' value='{rid}'>"
        "<button name='decision' value='{value}'>{label}</button></form>"
    )
    return SandboxResponse.html(
        "<!doctype html><meta charset='utf-8'><title>Futu sandbox: authorize</title>"
        f"<h1>Authorize {name}?</h1>"
        "<p>The Futu sandbox asks whether this application may use your (fake) account.</p>"
        + form.replace("{value}", "approve").replace("{label}", "Approve")
        + form.replace("{value}", "deny").replace("{label}", "Deny")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m brokerauth_futu.sandbox.server``: serve until Ctrl-C, then exit 0 (the token
    folder removed).

    Ctrl-C is taken over before the arguments are even read, so that it stops cleanly at any
    moment: before the banner, during it, while serving, while stopping."""
    return serve_until_interrupted(lambda: _from_command_line(argv), banner=_print_banner)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options, each ``dest`` a keyword of :class:`FutuSandbox`: this command
    line's, and ``brokerauth sandbox futu``'s (named in the ``brokerauth.sandbox`` entry)."""
    parser.add_argument("--ask", dest="auto_approve", action="store_false",
                        help="show an approve/deny page instead of approving logins at once")
    parser.add_argument("--no-rotate", dest="rotate_refresh", action="store_false",
                        help="keep refresh tokens on refresh (default: rotate them)")
    parser.add_argument("--app-key", help="legacy app key to accept (default: random)")
    parser.add_argument("--app-secret", help="its secret (default: random)")
    parser.add_argument("--mode", dest="profile_mode", choices=("api_key", "oauth"),
                        default="oauth",
                        help="the mode of the first profile `brokerauth sandbox` prints, the "
                        "other one follows it (default: oauth)")
    parser.add_argument("--authorize-path", choices=AUTHORIZE_PATHS, default=AUTHORIZE_PATHS[0],
                        help="where logins are confirmed (default /oauth2/authorize; "
                        "/oauth2/authorize/confirm is futu-cli's layout), as the RFC 8414 "
                        "metadata says")


def _from_command_line(argv: Sequence[str] | None) -> FutuSandbox:
    return from_command_line(
        FutuSandbox, add_arguments, argv, prog="python -m brokerauth_futu.sandbox.server",
        description="Serve a local emulator of Futu OpenAPI authentication on 127.0.0.1.",
    )


def _print_banner(sandbox: FutuSandbox) -> None:
    folder = Path(sandbox.token_dir or ".")
    # A JSON string is a TOML basic string, backslashes of a Windows path escaped.
    toml_folder = json.dumps(str(folder), ensure_ascii=False)
    out = sys.stdout
    # The credentials are the sandbox's own throwaway ones: printing them is the point.
    print(f"Futu sandbox listening on {sandbox.base_url}", file=out)
    print(f"  OAuth server:  {sandbox.oauth_base_url} (register, authorize, token, revoke)",
          file=out)
    print(f"  app key:       {sandbox.app_key}", file=out)
    print(f"  app secret:    {sandbox.app_secret}", file=out)
    print(f"  access token:  {sandbox.access_token}", file=out)
    print(f"  token folder:  {folder} (removed on exit)", file=out)
    print(
        "\nOAuth (the OAuth server is found through the RFC 8414 metadata beside base_url; a "
        "client is registered on the first login):\n\n"
        "[profiles.futu-sandbox]\n"
        'broker = "futu"\n'
        f'base_url = "{sandbox.base_url}"\n'
        f"token_dir = {toml_folder}\n"
        "\nLegacy API key (export FUTU_APP_KEY, FUTU_APP_SECRET, FUTU_ACCESS_TOKEN first):\n\n"
        "[profiles.futu-sandbox-key]\n"
        'broker = "futu"\n'
        'mode = "api_key"\n'
        f'base_url = "{sandbox.base_url}"\n'
        f"token_dir = {toml_folder}\n",
        file=out,
    )
    print("Ctrl-C stops.", file=out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
