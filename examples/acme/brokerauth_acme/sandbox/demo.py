"""Acme's walkthrough for ``brokerauth demo``."""

from __future__ import annotations

from brokerauth.contract.errors import LoginRequiredError
from brokerauth_sandbox.scenario import DemoContext, DemoScenario, DemoStep


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
    token = ctx.state["session"].token
    rotated = token.refresh_token != ctx.state["first"].refresh_token
    return (f"clock +{ctx.sandbox.token_lifetime + 1} s: refreshed before the call "
            f"(generation {response.json()['generation']}), refresh token rotated: {rotated}")


def _old_refresh_refused(ctx: DemoContext) -> str:
    stale = ctx.session(ctx.profile("acme-stale"))
    stale.binding.save(ctx.state["first"].replace(expires_at=ctx.clock.now()))
    try:
        stale.get("/api/me")
    except LoginRequiredError as exc:
        return f"reusing the rotated refresh token is refused: {exc.message}"
    raise AssertionError("the sandbox accepted a rotated refresh token")


def scenario() -> DemoScenario:
    return DemoScenario(
        "Acme (example plugin): client credentials with rotating refresh tokens",
        (
            DemoStep("log in (client credentials)", _login),
            DemoStep("signed call with the token", _call),
            DemoStep("expiry -> refresh with rotation", _expire_and_refresh),
            DemoStep("old refresh token refused", _old_refresh_refused),
        ),
    )
