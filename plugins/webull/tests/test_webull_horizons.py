"""The Webull 2FA token's horizon and keep-alive, over real HTTP on the sandbox's manual clock:
the token dies after 15 days without use (seed 000); sessions record their last use (coarsely)
so the horizon moves with it; ``keep_alive`` at day 13 renews the token without an SMS so it
is still NORMAL past day 15, and at day 16 it reports INVALID with the login command, once,
without asking Webull again on the next run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brokerauth
from brokerauth.engine.api import open_binding
from brokerauth.engine.horizons import horizon_of
from brokerauth.engine.keepalive import keep_alive
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull import codes
from brokerauth_webull.sandbox.server import DAY, WebullSandbox
from webull_helpers import SmsUser

ACCOUNTS = "/openapi/account/list"
CHECK = "/auth/tokens/check"
WINDOW = timedelta(days=3)


def profile(webull: WebullSandbox) -> Profile:
    return Profile.from_mapping("wb", {"broker": "webull", **webull.profile_settings(),
                                       "two_factor": "on"})


def logged_in(webull: WebullSandbox, clock: ManualClock, host: PluginHost) -> Any:
    session = brokerauth.session(profile(webull), clock=clock, host=host,
                                 interaction=SmsUser(webull))
    assert session.get(ACCOUNTS).ok
    return session


def unattended(webull: WebullSandbox, clock: ManualClock, host: PluginHost) -> Any:
    """What cron runs: the same profile and store, nobody at a keyboard."""
    return open_binding(profile(webull), clock=clock, host=host, interactive=False)


def test_the_horizon_is_fifteen_days_from_the_last_use(
    webull: WebullSandbox, manual_clock: ManualClock, plugin_host: PluginHost, token_home: Path
) -> None:
    session = logged_in(webull, manual_clock, plugin_host)
    token = session.tokens.peek()
    ends = brokerauth.horizon(profile(webull), clock=manual_clock, host=plugin_host)
    assert ends.works_until == token.expires_at
    # Counted from the token's creation, a few seconds before the SMS code went in.
    left = ends.works_until - manual_clock.now()
    assert timedelta(days=15) - timedelta(minutes=1) < left <= timedelta(days=15)
    assert ends.must_act_by is None  # kept alive by use: no person needed while it is used
    assert not ends.login_needed

    # Ten days later a request succeeds: Webull counts its 15 days from there, and so does
    # the horizon, from the use the session recorded in the store.
    manual_clock.advance(10 * DAY)
    assert session.get(ACCOUNTS).ok
    stored = session.binding.load()
    assert stored.last_used_at == manual_clock.now()
    later = brokerauth.horizon(profile(webull), clock=manual_clock, host=plugin_host)
    assert later.works_until == manual_clock.now() + timedelta(days=15)
    manual_clock.advance(14 * DAY)
    assert webull.token_status(stored.access_token) == codes.NORMAL
    assert session.get(ACCOUNTS).ok
    recorded = session.binding.load().last_used_at
    assert recorded == manual_clock.now()
    # Within the hour, more requests write nothing more.
    manual_clock.advance(60)
    assert session.get(ACCOUNTS).ok
    assert session.binding.load().last_used_at == recorded


def test_keepalive_at_day_13_keeps_the_token_normal_past_day_15(
    webull: WebullSandbox, manual_clock: ManualClock, plugin_host: PluginHost, token_home: Path
) -> None:
    first = logged_in(webull, manual_clock, plugin_host).tokens.peek()
    manual_clock.advance(13 * DAY)
    kept = keep_alive(unattended(webull, manual_clock, plugin_host), WINDOW)
    assert kept.action == "refreshed"
    assert kept.works_until == manual_clock.now() + timedelta(days=15)
    assert webull.tokens_created == 1  # renewed, not replaced: no SMS
    # Run again at once: nothing is due any more.
    assert keep_alive(unattended(webull, manual_clock, plugin_host), WINDOW).action == "none"

    manual_clock.advance(3 * DAY)  # day 16
    assert webull.token_status(first.access_token) == codes.NORMAL
    later = brokerauth.session(profile(webull), clock=manual_clock, host=plugin_host,
                               interactive=False)
    assert later.get(ACCOUNTS).ok


def test_keepalive_at_day_16_reports_invalid_with_the_login_command_once(
    webull: WebullSandbox, manual_clock: ManualClock, plugin_host: PluginHost, token_home: Path
) -> None:
    logged_in(webull, manual_clock, plugin_host)
    manual_clock.advance(16 * DAY)
    kept = keep_alive(unattended(webull, manual_clock, plugin_host), WINDOW)
    assert kept.action == "person"
    assert "INVALID" in kept.message
    assert kept.command == "brokerauth login wb"
    checks = webull.count("POST", CHECK)
    assert brokerauth.horizon(profile(webull), clock=manual_clock,
                              host=plugin_host).login_needed
    # The refusal is on record: the next run reports it without asking Webull again.
    again = keep_alive(unattended(webull, manual_clock, plugin_host), WINDOW)
    assert again.action == "person"
    assert webull.count("POST", CHECK) == checks


def test_horizon_of_a_token_without_any_end_is_unknown() -> None:
    token = brokerauth.Token(access_token="x", broker="acme")
    ends = horizon_of(token, datetime.now(UTC))
    assert ends.works_until is None
    assert ends.must_act_by is None
    assert not ends.login_needed


def test_requests_through_the_adapters_record_the_use_as_a_session_does(
    webull: WebullSandbox, manual_clock: ManualClock, plugin_host: PluginHost, token_home: Path
) -> None:
    # A platform that sends through requests or httpx keeps its users' tokens alive by using
    # them: the adapters record a successful use as a session does (at most hourly), so the
    # horizon and keep-alive see it. Without it, a token in daily use looked 15 days old.
    import asyncio

    import httpx
    import requests
    from brokerauth.adapters import httpx_auth, requests_auth

    logged_in(webull, manual_clock, plugin_host)
    url = profile(webull).settings["base_url"].rstrip("/") + ACCOUNTS
    options = {"clock": manual_clock, "host": plugin_host, "interactive": False}

    def with_requests() -> None:
        assert requests.get(url, auth=requests_auth(profile(webull), **options),
                            timeout=10).ok

    def with_httpx() -> None:
        with httpx.Client(auth=httpx_auth(profile(webull), **options), timeout=10) as client:
            assert client.get(url).is_success

    def with_async_httpx() -> None:
        async def go() -> None:
            async with httpx.AsyncClient(auth=httpx_auth(profile(webull), **options),
                                         timeout=10) as client:
                assert (await client.get(url)).is_success

        asyncio.run(go())

    binding = unattended(webull, manual_clock, plugin_host)
    for send in (with_requests, with_httpx, with_async_httpx):
        manual_clock.advance(2 * DAY)
        send()
        assert binding.load().last_used_at == manual_clock.now(), send.__name__
        recorded = manual_clock.now()
        manual_clock.advance(60)  # within the hour: nothing more is written
        send()
        assert binding.load().last_used_at == recorded, send.__name__
