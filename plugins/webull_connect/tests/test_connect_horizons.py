"""A Webull Connect authorization's horizon and keep-alive, over real HTTP on the sandbox's
manual clock: the refresh token lasts 15 days from the login however often it rotates
(``rt_expires_in``), so that end is hard — keep-alive refreshes a credential near it, and says
a person must act by then; past it, keep-alive exits "a person must act" with the command.
A platform lists which of its users must authorize again, and starts their logins."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import AuthenticationError
from brokerauth.contract.tokens import Token
from brokerauth.engine.api import open_binding
from brokerauth.engine.keepalive import keep_alive
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull_connect import begin_login, complete
from brokerauth_webull_connect.flow import _authorization_end
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, profile_for

DAY = 86400
WINDOW = timedelta(days=3)


def unattended(connect: Any, clock: ManualClock, host: PluginHost, user: str | None) -> Any:
    return open_binding(profile_for(connect), user=user, clock=clock, host=host,
                        interactive=False)


def test_the_authorization_ends_15_days_after_the_login(
    connect: Any, make_session: Any, manual_clock: ManualClock, plugin_host: PluginHost,
    token_home: Path,
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    login_at = manual_clock.now()
    ends = brokerauth.horizon(profile_for(connect), user=session.identity, clock=manual_clock,
                              host=plugin_host)
    assert ends.works_until == login_at + timedelta(days=15)
    assert ends.must_act_by == login_at + timedelta(days=15)  # no refresh moves it
    manual_clock.advance(2 * DAY)
    assert session.refresh() is not None
    assert brokerauth.horizon(profile_for(connect), user=session.identity, clock=manual_clock,
                              host=plugin_host).must_act_by == login_at + timedelta(days=15)


def test_keepalive_refreshes_near_the_end_and_says_who_must_act(
    connect: Any, make_session: Any, manual_clock: ManualClock, plugin_host: PluginHost,
    token_home: Path,
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    user = session.identity
    end = manual_clock.now() + timedelta(days=15)
    manual_clock.advance(13 * DAY)
    before = connect.refresh_calls
    kept = keep_alive(unattended(connect, manual_clock, plugin_host, user), WINDOW)
    assert connect.refresh_calls == before + 1  # near its end: refreshed
    assert kept.refreshed
    assert kept.action == "person"  # ... and still ending then
    assert kept.must_act_by == end
    assert kept.command == "brokerauth login connect"  # the profile's default identity

    manual_clock.advance(3 * DAY)  # past the 15 days
    past = keep_alive(unattended(connect, manual_clock, plugin_host, user), WINDOW)
    assert past.action == "person"
    assert "authorization has ended" in past.message
    assert past.command == "brokerauth login connect"
    calls = connect.refresh_calls
    assert keep_alive(unattended(connect, manual_clock, plugin_host, user),
                      WINDOW).action == "person"
    assert connect.refresh_calls == calls  # the refusal is on record: not asked again


def authorize(connect: Any, host: PluginHost, user: str) -> Token:
    """The platform's login for one of its users: the link, the user's approval, the code."""
    profile = profile_for(connect)
    pending = begin_login(profile, user=user, host=host, clock=connect.clock)
    return complete(pending, approve(pending.url), user=user, profile=profile, host=host,
                    clock=connect.clock)


def test_a_platform_lists_who_must_authorize_again_and_starts_their_logins(
    connect: Any, manual_clock: ManualClock, plugin_host: PluginHost, token_home: Path,
) -> None:
    connect.redirect_uri = PLATFORM_REDIRECT
    authorize(connect, plugin_host, "early")
    manual_clock.advance(5 * DAY)
    authorize(connect, plugin_host, "late")
    manual_clock.advance(8 * DAY)  # early's authorization ends in 2 days, late's in 7

    listed = {g.identity: g for g in brokerauth.users(profile_for(connect), clock=manual_clock,
                                                     host=plugin_host)}
    assert set(listed) == {"early", "late"}
    assert listed["late"].horizon.must_act_by == manual_clock.now() + timedelta(days=7)
    due = list(brokerauth.users(profile_for(connect), expiring=WINDOW, clock=manual_clock,
                                host=plugin_host))
    assert [g.identity for g in due] == ["early"]
    assert due[0].login_command == "brokerauth login connect --user early"
    # The link to send that user, as the platform's own login page would start it.
    pending = begin_login(profile_for(connect), user=due[0].identity, host=plugin_host,
                          clock=manual_clock)
    assert pending.url.startswith(connect.base_url)
    again = complete(pending, approve(pending.url), user="early", profile=profile_for(connect),
                     host=plugin_host, clock=manual_clock)
    assert again.identity is not None
    assert list(brokerauth.users(profile_for(connect), expiring=WINDOW, clock=manual_clock,
                                 host=plugin_host)) == []


@pytest.mark.parametrize(("before", "after", "hard"), [
    (10, 10, True),       # the login's end kept across the rotation: hard
    (10, 15, False),      # moved by the refresh: the server slides it, keep-alive suffices
    (None, 15, True),     # the login itself: taken as hard until a refresh shows otherwise
])
def test_a_sliding_refresh_token_has_no_hard_end(before: int | None, after: int,
                                                  hard: bool) -> None:
    from datetime import UTC, datetime

    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = None if before is None else Token(
        access_token="a", broker="webull_connect", refresh_token="r",
        refresh_expires_at=start + timedelta(days=before))
    token = Token(access_token="b", broker="webull_connect", refresh_token="s",
                  refresh_expires_at=start + timedelta(days=after))
    assert (_authorization_end(token, previous) is not None) is hard


def test_a_withdrawn_authorization_is_known_to_all_and_a_new_login_is_picked_up(
    connect: Any, make_session: Any, manual_clock: ManualClock, plugin_host: PluginHost,
    token_home: Path,
) -> None:
    running = make_session()
    assert running.get(ACCOUNTS).ok
    connect.revoke_user(running.token.identity)
    with pytest.raises(AuthenticationError):
        running.get(ACCOUNTS)
    # Recorded with the token: the registry and keep-alive know a person must act.
    (grant,) = brokerauth.users(profile_for(connect), clock=manual_clock, host=plugin_host)
    assert grant.needs_person
    kept = keep_alive(unattended(connect, manual_clock, plugin_host, None), WINDOW)
    assert kept.action == "person"

    # The user authorizes again in another program (`brokerauth login`); the running one
    # picks the new token up from the store on its next request, without a restart.
    connect.reinstate_user(running.token.identity)
    other = make_session()
    assert other.login() is not None
    assert running.get(ACCOUNTS).ok
    assert running.token.access_token == other.token.access_token
