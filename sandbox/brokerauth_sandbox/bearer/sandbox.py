"""The bearer double's emulator (its ``brokerauth.sandbox`` entry point): rotating refresh
tokens whose reuse revokes the family, counters, and the knobs the fleet tests turn."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import attrs
from brokerauth.contract.clock import Clock
from brokerauth.toolkit.secrets import Secret

from brokerauth_sandbox.bearer import BROKER
from brokerauth_sandbox.server import SandboxRequest, SandboxResponse, SandboxServer, route


@attrs.define
class _Grant:
    family: str
    generation: int
    expires_at: float


class BearerDoubleSandbox(SandboxServer):
    broker = BROKER

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.client_id = "bearer-client-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(24)
        self.token_lifetime = 600
        self._lock = threading.Lock()
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._used_refresh: set[str] = set()
        self._revoked_families: set[str] = set()
        #: Refresh grants served (successful or not), and those refused.
        self.refresh_calls = 0
        self.invalid_grants = 0
        #: Real seconds each refresh is held open, to keep it in flight while others arrive.
        self.refresh_delay = 0.0
        #: The access token of every API request, as received (``None``: none was sent).
        self.seen_tokens: list[str | None] = []

    def profile_settings(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "client_id": self.client_id,
                "client_secret": Secret.from_value(self.client_secret)}

    @route("POST", "/oauth/token")
    def token(self, request: SandboxRequest) -> SandboxResponse:
        form = request.form()
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id,
                                                                  self.client_secret):
            return _error(401, "invalid_client")
        if form.get("grant_type") == "client_credentials":
            with self._lock:
                return self._issue(secrets.token_hex(8), 1)
        with self._lock:
            self.refresh_calls += 1
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        presented = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.get(presented)
            if grant is None or grant.family in self._revoked_families:
                self.invalid_grants += 1
                return _error(400, "invalid_grant")
            if presented in self._used_refresh:
                # A rotated refresh token used again: the whole family is revoked.
                self._revoked_families.add(grant.family)
                self.invalid_grants += 1
                return _error(400, "invalid_grant")
            self._used_refresh.add(presented)
            return self._issue(grant.family, grant.generation + 1)

    def _issue(self, family: str, generation: int) -> SandboxResponse:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = self.server_now() + self.token_lifetime
        self._access[access] = _Grant(family, generation, expires)
        self._refresh[refresh] = _Grant(family, generation, expires + 86400)
        return SandboxResponse.json({"access_token": access, "refresh_token": refresh,
                                     "token_type": "Bearer", "expires_in": self.token_lifetime})

    @route("GET", "/api/me")
    def me(self, request: SandboxRequest) -> SandboxResponse:
        auth = request.header("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        with self._lock:
            self.seen_tokens.append(token)
            grant = self._access.get(token or "")
        if grant is None or grant.expires_at <= self.server_now():
            return SandboxResponse.json(
                {"error": "invalid_token"}, status=401,
                headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),))
        return SandboxResponse.json({"generation": grant.generation})

    # -- knobs -----------------------------------------------------------------------------
    def family_valid(self, refresh_token: str) -> bool:
        """Whether ``refresh_token``'s family is still alive (not revoked for reuse)."""
        with self._lock:
            grant = self._refresh.get(refresh_token)
            return grant is not None and grant.family not in self._revoked_families

    def kill_refresh_tokens(self) -> None:
        """Revoke every refresh token family: each refresh from now on is ``invalid_grant``."""
        with self._lock:
            self._revoked_families.update(grant.family for grant in self._refresh.values())

    def expire_access_tokens(self) -> None:
        with self._lock:
            for grant in self._access.values():
                grant.expires_at = 0


def _error(status: int, code: str) -> SandboxResponse:
    return SandboxResponse.json({"error": code}, status=status)


def make_sandbox(clock: Clock) -> BearerDoubleSandbox:
    return BearerDoubleSandbox(clock)


def demo_scenario() -> None:
    return None
