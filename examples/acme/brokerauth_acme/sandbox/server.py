"""An emulator of Acme's server: signed requests, client credentials, rotating refresh tokens
whose reuse revokes the whole family, revocation."""

from __future__ import annotations

import hmac
import secrets
import threading
from typing import Any
from urllib.parse import urlencode

import attrs
from brokerauth.contract.clock import Clock
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.server import SandboxRequest, SandboxResponse, SandboxServer, route

from brokerauth_acme.signing import signature, string_to_sign

#: Seconds a request's timestamp may differ from the server's clock.
TIMESTAMP_WINDOW = 300
#: Seconds an access token lives.
TOKEN_LIFETIME = 600


@attrs.define
class _Grant:
    family: str
    generation: int
    expires_at: float
    revoked: bool = False


class AcmeSandbox(SandboxServer):
    broker = "acme"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.client_id = "acme-client-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(24)
        self.token_lifetime = TOKEN_LIFETIME
        self._lock = threading.Lock()
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._used_refresh: set[str] = set()
        self._revoked_families: set[str] = set()
        self._nonces: set[str] = set()

    def profile_settings(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "client_id": self.client_id,
            "client_secret": Secret.from_value(self.client_secret),
        }

    # -- verification ----------------------------------------------------------------------
    def _verify(self, request: SandboxRequest) -> SandboxResponse | None:
        given = request.header("x-acme-signature") or ""
        timestamp = request.header("x-acme-timestamp") or ""
        nonce = request.header("x-acme-nonce") or ""
        if request.header("x-acme-client") != self.client_id:
            return _error(401, "unknown_client", "unknown client")
        try:
            age = abs(self.server_now() - int(timestamp))
        except ValueError:
            return _error(401, "bad_request", "timestamp missing")
        if age > TIMESTAMP_WINDOW:
            return _error(401, "stale_request", "timestamp outside the server's window")
        # Acme signs the query in its canonical form, whatever encoding the client chose.
        message = string_to_sign(
            request.method, request.host, request.path, urlencode(request.params), timestamp,
            nonce, request.body or None, request.header("authorization") or "",
        )
        if not hmac.compare_digest(given, signature(self.client_secret, message)):
            return _error(401, "bad_signature", "signature does not match")
        with self._lock:
            if nonce in self._nonces:
                return _error(401, "replayed", "nonce already used")
            self._nonces.add(nonce)
        return None

    def _bearer(self, request: SandboxRequest) -> _Grant | None:
        auth = request.header("authorization") or ""
        with self._lock:
            return self._access.get(auth[7:]) if auth.startswith("Bearer ") else None

    # -- token endpoint --------------------------------------------------------------------
    @route("POST", "/oauth/token")
    def token(self, request: SandboxRequest) -> SandboxResponse:
        refused = self._verify(request)
        if refused is not None:
            return refused
        form = request.form()
        if form.get("grant_type") == "client_credentials":
            with self._lock:
                return self._issue(secrets.token_hex(8), 1)
        if form.get("grant_type") == "refresh_token":
            return self._refresh_grant(form.get("refresh_token", ""))
        return _error(400, "unsupported_grant_type", "grant_type not supported")

    def _refresh_grant(self, presented: str) -> SandboxResponse:
        with self._lock:
            grant = self._refresh.get(presented)
            if grant is None or grant.family in self._revoked_families:
                return _error(400, "invalid_grant", "refresh token unknown or revoked")
            if presented in self._used_refresh:
                # Reuse of a rotated refresh token: assume theft, revoke the whole family.
                self._revoked_families.add(grant.family)
                return _error(400, "invalid_grant", "refresh token reused; family revoked")
            self._used_refresh.add(presented)
            return self._issue(grant.family, grant.generation + 1)

    def _issue(self, family: str, generation: int) -> SandboxResponse:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = self.server_now() + self.token_lifetime
        self._access[access] = _Grant(family, generation, expires)
        self._refresh[refresh] = _Grant(family, generation, expires + 86400)
        return SandboxResponse.json({
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        })

    @route("POST", "/oauth/revoke")
    def revoke(self, request: SandboxRequest) -> SandboxResponse:
        refused = self._verify(request)
        if refused is not None:
            return refused
        presented = request.form().get("token", "")
        with self._lock:
            grant = self._refresh.get(presented) or self._access.get(presented)
            if grant is not None:
                self._revoked_families.add(grant.family)
                for access in self._access.values():
                    if access.family == grant.family:
                        access.revoked = True
        return SandboxResponse.json({})

    # -- API -------------------------------------------------------------------------------
    def _authorized(self, request: SandboxRequest) -> tuple[SandboxResponse | None, _Grant | None]:
        refused = self._verify(request)
        if refused is not None:
            return refused, None
        grant = self._bearer(request)
        if grant is not None and grant.revoked:
            return _error(401, "revoked", "credential revoked"), None
        if grant is None or grant.expires_at <= self.server_now():
            return SandboxResponse.json(
                {"error": "invalid_token", "error_description": "token expired or unknown"},
                status=401,
                headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),),
            ), None
        return None, grant

    @route("GET", "/api/me")
    def me(self, request: SandboxRequest) -> SandboxResponse:
        refused, grant = self._authorized(request)
        if refused is not None:
            return refused
        assert grant is not None
        return SandboxResponse.json({"client_id": self.client_id, "generation": grant.generation})


def _error(status: int, code: str, message: str) -> SandboxResponse:
    return SandboxResponse.json({"error": code, "error_description": message}, status=status)
