"""The double's emulator and demo walkthrough (its ``brokerauth.sandbox`` entry point).

The emulator verifies signatures, issues client-credentials tokens on the injected clock,
rotates refresh tokens and revokes a family on reuse, as a careful broker does; its knobs make
it misbehave when a test asks (fail or garble the next refreshes, hold a refresh open, drop
connections, refuse a revocation), and its counters say what it was asked.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

import attrs
from brokerauth.contract.clock import Clock
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.scenario import DemoContext, DemoScenario, DemoStep
from brokerauth_sandbox.server import SandboxRequest, SandboxResponse, SandboxServer, route

from doubles.plugin import BROKER, signature, string_to_sign

TIMESTAMP_WINDOW = 300


@attrs.define
class _Grant:
    family: str
    generation: int
    expires_at: float
    revoked: bool = False


class DoubleSandbox(SandboxServer):
    broker = BROKER

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.client_id = "double-client-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(24)
        self.token_lifetime = 600
        self.timestamp_window = TIMESTAMP_WINDOW
        self._lock = threading.Lock()
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._used_refresh: set[str] = set()
        self._revoked_families: set[str] = set()
        self._nonces: set[str] = set()
        #: Refresh grants served (successful or not), for single-flight assertions.
        self.refresh_calls = 0
        self.invalid_grants = 0
        #: Answer the next refreshes with these statuses.
        self.fail_refresh: list[int] = []
        #: Answer the next refreshes with these raw (status, content type, body) triples.
        self.bad_refresh_answers: list[tuple[int, str, bytes]] = []
        #: Real seconds each refresh is held open, to keep it in flight while others arrive.
        self.refresh_delay = 0.0
        #: Drop this many of the next connections to /api/flaky without answering.
        self.drop_flaky = 0
        #: Answer revocations with this status (0: accept them).
        self.fail_revoke = 0
        self.orders: list[Any] = []
        self.flaky_nonces: list[str | None] = []
        self.seen_tokens: list[str | None] = []

    def profile_settings(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "client_id": self.client_id,
            "client_secret": Secret.from_value(self.client_secret),
        }

    # -- verification ----------------------------------------------------------------------
    def _verify(self, request: SandboxRequest) -> SandboxResponse | None:
        given = request.header("x-double-signature") or ""
        timestamp = request.header("x-double-timestamp") or ""
        nonce = request.header("x-double-nonce") or ""
        if request.header("x-double-client") != self.client_id:
            return _error(401, "unknown_client", "unknown client")
        try:
            age = abs(self.server_now() - int(timestamp))
        except ValueError:
            return _error(401, "bad_request", "timestamp missing")
        if age > self.timestamp_window:
            return _error(401, "stale_request", "timestamp outside the server's window")
        # The query is signed in its canonical form, whatever encoding the client chose.
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

    def _bearer(self, request: SandboxRequest) -> tuple[_Grant | None, str | None]:
        auth = request.header("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else None
        with self._lock:
            grant = self._access.get(token or "")
        return grant, token

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
            self.refresh_calls += 1
            failing = self.fail_refresh.pop(0) if self.fail_refresh else None
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        if failing is not None:
            return _error(failing, "temporarily_unavailable", "try later")
        with self._lock:
            bad = self.bad_refresh_answers.pop(0) if self.bad_refresh_answers else None
        if bad is not None:
            status, content_type, body = bad
            return SandboxResponse(status, body, (("Content-Type", content_type),))
        with self._lock:
            grant = self._refresh.get(presented)
            if grant is None or grant.family in self._revoked_families:
                self.invalid_grants += 1
                return _error(400, "invalid_grant", "refresh token unknown or revoked")
            if presented in self._used_refresh:
                # Reuse of a rotated refresh token: assume theft, revoke the whole family.
                self._revoked_families.add(grant.family)
                self.invalid_grants += 1
                return _error(400, "invalid_grant", "refresh token reused; family revoked")
            self._used_refresh.add(presented)
            return self._issue(grant.family, grant.generation + 1)

    def _issue(self, family: str, generation: int) -> SandboxResponse:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        expires = self.server_now() + self.token_lifetime
        self._access[access] = _Grant(family, generation, expires)
        self._refresh[refresh] = _Grant(family, generation, expires + 86400)
        return SandboxResponse.json({"access_token": access, "refresh_token": refresh,
                                     "token_type": "Bearer", "expires_in": self.token_lifetime})

    @route("POST", "/oauth/revoke")
    def revoke(self, request: SandboxRequest) -> SandboxResponse:
        refused = self._verify(request)
        if refused is not None:
            return refused
        if self.fail_revoke:
            return _error(self.fail_revoke, "temporarily_unavailable", "try later")
        presented = request.form().get("token", "")
        with self._lock:
            grant = self._refresh.get(presented) or self._access.get(presented)
            if grant is not None:
                self._revoked_families.add(grant.family)
                for access in self._access.values():
                    if access.family == grant.family:
                        access.revoked = True
        return SandboxResponse.json({})

    # -- knobs -----------------------------------------------------------------------------
    def family_valid(self, refresh_token: str) -> bool:
        """Whether ``refresh_token``'s family is still alive (not revoked for reuse)."""
        with self._lock:
            grant = self._refresh.get(refresh_token)
            return grant is not None and grant.family not in self._revoked_families

    def revoke_all(self) -> None:
        with self._lock:
            for grant in self._access.values():
                grant.revoked = True

    def kill_refresh_tokens(self) -> None:
        """Revoke every refresh token family: each refresh from now on is ``invalid_grant``."""
        with self._lock:
            self._revoked_families.update(grant.family for grant in self._refresh.values())

    def expire_access_tokens(self) -> None:
        """Forget every access token's lifetime, as a server that ends them early."""
        with self._lock:
            for grant in self._access.values():
                grant.expires_at = 0

    # -- API -------------------------------------------------------------------------------
    def _authorized(self, request: SandboxRequest) -> tuple[SandboxResponse | None, _Grant | None]:
        refused = self._verify(request)
        if refused is not None:
            return refused, None
        grant, token = self._bearer(request)
        with self._lock:
            self.seen_tokens.append(token)
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

    @route("POST", "/api/orders")
    def place_order(self, request: SandboxRequest) -> SandboxResponse:
        refused, _ = self._authorized(request)
        if refused is not None:
            return refused
        with self._lock:
            self.orders.append(request.json())
        return SandboxResponse.json({"accepted": True})

    @route("GET", "/api/flaky")
    @route("POST", "/api/flaky")
    def flaky(self, request: SandboxRequest) -> SandboxResponse:
        with self._lock:
            self.flaky_nonces.append(request.header("x-double-nonce"))
            if self.drop_flaky > 0:
                self.drop_flaky -= 1
                return SandboxResponse.drop()
        refused, _ = self._authorized(request)
        return refused or SandboxResponse.json({"ok": True})


def _error(status: int, code: str, message: str) -> SandboxResponse:
    return SandboxResponse.json({"error": code, "error_description": message}, status=status)


# -- the provider the test bench calls ---------------------------------------------------------

def make_sandbox(clock: Clock) -> DoubleSandbox:
    return DoubleSandbox(clock)


def demo_scenario() -> DemoScenario:
    # Built at each call, so that a test replacing a step function sees it used.
    return DemoScenario(
        "the core tests' broker: client credentials with rotating refresh tokens",
        (
            DemoStep("log in (client credentials)", _login),
            DemoStep("signed call with the token", _call),
            DemoStep("expiry -> refresh with rotation", _expire_and_refresh),
            DemoStep("old refresh token refused", _old_refresh_refused),
        ),
    )


def _login(ctx: DemoContext) -> str:
    session = ctx.session()
    token = session.login()
    assert token is not None
    ctx.state["session"] = session
    ctx.state["first"] = token
    return f"client-credentials token, valid {token.seconds_left(ctx.clock.now()):.0f} s"


def _call(ctx: DemoContext) -> str:
    response = ctx.state["session"].get("/api/me").raise_for_status()
    return f"GET /api/me -> {response.status}, generation {response.json()['generation']}"


def _expire_and_refresh(ctx: DemoContext) -> str:
    ctx.clock.advance(ctx.sandbox.token_lifetime + 1)
    response = ctx.state["session"].get("/api/me").raise_for_status()
    rotated = ctx.state["session"].token.refresh_token != ctx.state["first"].refresh_token
    return (f"clock +{ctx.sandbox.token_lifetime + 1} s: refreshed before the call "
            f"(generation {response.json()['generation']}), refresh token rotated: {rotated}")


def _old_refresh_refused(ctx: DemoContext) -> str:
    stale = ctx.session(ctx.profile("double-stale"))
    stale.binding.save(ctx.state["first"].replace(expires_at=ctx.clock.now()))
    try:
        stale.get("/api/me")
    except LoginRequiredError as exc:
        return f"reusing the rotated refresh token is refused: {exc.message}"
    raise AssertionError("the sandbox accepted a rotated refresh token")
