"""Webull Connect's walkthrough for ``brokerauth demo``: both ways of logging in, a call for
each user, refresh with rotation, a rotated refresh token refused, and the 15-day end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import urllib3
from brokerauth_sandbox.scenario import DemoContext, DemoScenario, DemoStep

from brokerauth_webull_connect.authorize import begin_login, complete, login
from brokerauth_webull_connect.flow import AuthorizationRequired

if TYPE_CHECKING:
    from brokerauth.engine.sessions import Session

ACCOUNTS = "/oauth-openapi/account/list"
_PLATFORM_REDIRECT = "https://platform.example/webull/callback"


def _desktop_login(ctx: DemoContext) -> str:
    ctx.sandbox.auto_approve = True
    ctx.sandbox.next_user = "ID-DEMO-ALICE"
    session = login(ctx.profile("webull_connect-demo"), host=ctx.host, clock=ctx.clock,
                    interaction=ctx.interaction)
    token = session.token
    assert token is not None
    ctx.state.update(session=session, first=token)
    return (f"loopback login approved; token filed under identity {session.identity!r}, "
            f"valid {token.seconds_left(ctx.clock.now()):.0f} s")


def _call(ctx: DemoContext) -> str:
    session: Session = ctx.state["session"]
    account = session.get(ACCOUNTS).raise_for_status().json()[0]
    return f"GET {ACCOUNTS} with the Bearer token -> {account['account_id']}"


def _refresh(ctx: DemoContext) -> str:
    ctx.clock.advance(1801)
    session: Session = ctx.state["session"]
    session.get(ACCOUNTS).raise_for_status()
    token = session.token
    assert token is not None
    rotated = token.refresh_token != ctx.state["first"].refresh_token
    return f"clock +1801 s: refreshed before the call; refresh token rotated: {rotated}"


def _old_refresh_refused(ctx: DemoContext) -> str:
    stale = ctx.session(ctx.profile("webull_connect-stale"))
    stale.binding.save(ctx.state["first"].replace(expires_at=ctx.clock.now()))
    try:
        stale.get(ACCOUNTS)
    except AuthorizationRequired as exc:
        return f"a rotated refresh token is refused and ends that login: {exc.message}"
    raise AssertionError("the sandbox accepted a rotated refresh token")


def _platform_login(ctx: DemoContext) -> str:
    ctx.sandbox.redirect_uri = _PLATFORM_REDIRECT
    ctx.sandbox.next_user = "ID-DEMO-BOB"
    profile = ctx.profile("webull_connect-platform")
    pending = begin_login(profile, host=ctx.host, clock=ctx.clock)
    # The user's browser: the login page approves and redirects to the platform's server.
    answer = urllib3.PoolManager().request("GET", pending.url, redirect=False, retries=False)
    token = complete(pending, str(answer.headers["Location"]), profile=profile, host=ctx.host,
                     clock=ctx.clock)
    bob = ctx.session(profile, user=token.identity)
    account = bob.get(ACCOUNTS).raise_for_status().json()[0]
    ctx.state["bob"] = bob
    return (f"begin_login() + complete() on the platform's server: user {token.identity!r} "
            f"sees {account['account_id']}")


def _reauthorize(ctx: DemoContext) -> str:
    ctx.clock.advance(days=15, seconds=1)
    bob: Session = ctx.state["bob"]
    try:
        bob.get(ACCOUNTS)
    except AuthorizationRequired as exc:
        return ("15 days later the refresh token is over: authorize again at "
                f"{_short(exc.login_url)}, finish with complete(error.pending, ...)")
    raise AssertionError("a 15-day-old login still worked")


def _short(url: Any) -> str:
    return str(url).split("?", 1)[0] + "?..."


def scenario() -> DemoScenario:
    return DemoScenario(
        "Webull Connect: OAuth login for many users, rotating refresh tokens",
        (
            DemoStep("desktop login through the loopback listener", _desktop_login),
            DemoStep("API call with the Bearer token", _call),
            DemoStep("expiry -> refresh with rotation", _refresh),
            DemoStep("old refresh token refused", _old_refresh_refused),
            DemoStep("platform login for a second user", _platform_login),
            DemoStep("refresh token expiry -> authorize again", _reauthorize),
        ),
    )
