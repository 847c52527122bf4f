"""Futu's walkthrough for ``brokerauth demo``: an OAuth login with a registered client, a
call, a refresh, a logout that revokes; then the legacy API key with a clock 90 s off, a token
refresh and a revoked credential.  Everything runs against the sandbox, whose profiles keep
their token files in the sandbox's own temporary folder."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from brokerauth.contract.errors import AuthenticationError
from brokerauth_sandbox.scenario import DemoContext, DemoScenario, DemoStep

if TYPE_CHECKING:
    from brokerauth.engine.sessions import Session

QUOTE = "/v1/quote/snapshot"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login(ctx: DemoContext) -> str:
    ctx.sandbox.profile_mode = "oauth"
    ctx.sandbox.profile_redirect_uri = f"http://127.0.0.1:{_free_port()}/callback"
    session = ctx.session(ctx.profile("futu-demo"))
    token = session.token
    assert token is not None
    client_id = token.extra["client_id"]
    path = Path(ctx.sandbox.token_dir) / client_id
    ctx.state.update(oauth=session, first=token, path=path)
    return (f"registered client {client_id} (RFC 7591), logged in with PKCE S256 through the "
            f"loopback listener; token in the SDK's format at .../{path.name}")


def _call(ctx: DemoContext) -> str:
    session: Session = ctx.state["oauth"]
    quote = session.get(QUOTE).raise_for_status().json()["data"]["snapshots"][0]
    return f"GET {QUOTE} with the Bearer token -> {quote['symbol']} {quote['last_price']}"


def _refresh(ctx: DemoContext) -> str:
    ctx.clock.advance(7200 - 30)
    session: Session = ctx.state["oauth"]
    session.get(QUOTE).raise_for_status()
    token = session.token
    assert token is not None
    rotated = token.refresh_token != ctx.state["first"].refresh_token
    return f"clock +7170 s: refreshed before the call; refresh token rotated: {rotated}"


def _logout(ctx: DemoContext) -> str:
    from brokerauth_futu.sdk import logout

    session: Session = ctx.state["oauth"]
    removed = logout(session)
    gone = not ctx.state["path"].exists()
    return f"revoked at the server (RFC 7009), token file removed: {removed and gone}"


def _api_key(ctx: DemoContext) -> str:
    ctx.sandbox.profile_mode = "api_key"
    session = ctx.session(ctx.profile("futu-demo-key"))
    session.get(QUOTE).raise_for_status()
    ctx.state["key"] = session
    return "X-Api-Key, X-Api-Timestamp, X-Api-Signature (HMAC-SHA256) and Bearer accepted"


def _skew(ctx: DemoContext) -> str:
    session: Session = ctx.state["key"]
    ctx.sandbox.clock_offset = 90
    before = ctx.sandbox.stats["clock_skew"]
    session.get(QUOTE).raise_for_status()
    session.get(QUOTE).raise_for_status()
    rejected = ctx.sandbox.stats["clock_skew"] - before
    return (f"server clock 90 s ahead: {rejected} rejection, offset learned from Date "
            f"({session.binding.skew.total_seconds():+.0f} s), later calls accepted")


def _refresh_access_token(ctx: DemoContext) -> str:
    from brokerauth_futu.sdk import Config

    sandbox = ctx.sandbox
    with Config.new(sandbox.app_key, sandbox.app_secret, sandbox.access_token,
                    http_url=sandbox.base_url, token_dir=sandbox.token_dir, clock=ctx.clock,
                    host=ctx.host) as config:
        config.refresh_access_token()
        config.session().get(QUOTE).raise_for_status()
        token = config.session().token
        assert token is not None
        assert token.expires_at is not None
        days = round((token.expires_at - ctx.clock.now()).total_seconds() / 86400)
    return f"Config.refresh_access_token(): new token stored, valid {days} days"


def _revoked(ctx: DemoContext) -> str:
    ctx.sandbox.revoke_credential()
    session: Session = ctx.state["key"]
    calls = ctx.sandbox.count("GET", QUOTE)
    try:
        session.get(QUOTE)
    except AuthenticationError as exc:
        sent = ctx.sandbox.count("GET", QUOTE) - calls
        return f"credential revoked: {exc.message} after {sent} request, no retry"
    raise AssertionError("the sandbox accepted a revoked credential")


def scenario() -> DemoScenario:
    return DemoScenario(
        "Futu OpenAPI: OAuth public client, SDK token file, legacy API key",
        (
            DemoStep("register a client, log in with PKCE through the loopback listener",
                     _login),
            DemoStep("API call with the Bearer token", _call),
            DemoStep("expiry -> refresh", _refresh),
            DemoStep("logout revokes and removes the token file", _logout),
            DemoStep("legacy API key: signed call", _api_key),
            DemoStep("clock 90 s off -> one rejection, offset learned", _skew),
            DemoStep("refresh_access_token replaces the stored token", _refresh_access_token),
            DemoStep("revoked credential -> clear error, no retry", _revoked),
        ),
    )
