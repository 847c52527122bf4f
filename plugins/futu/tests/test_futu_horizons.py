"""The Futu legacy access token's horizon and keep-alive, over real HTTP on the sandbox's
manual clock (seed 003): 90 days, pushed back by ``refresh_access_token``. A token configured
in the profile has no known end until its first refresh says one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import brokerauth
from brokerauth.engine.api import open_binding
from brokerauth.engine.keepalive import keep_alive
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.clock import ManualClock

DAY = 86400
WINDOW = timedelta(days=3)


def profile(sandbox: FutuSandbox) -> Profile:
    return Profile.from_mapping("fk", {"broker": "futu", **sandbox.profile_settings()})


def test_the_legacy_token_lasts_90_days_and_keepalive_renews_it(
    sandbox: FutuSandbox, clock: ManualClock, plugin_host: PluginHost, token_home: Path,
) -> None:
    session: Any = brokerauth.session(profile(sandbox), clock=clock, host=plugin_host)
    assert session.get("/v1/quote/snapshot").ok
    unknown = brokerauth.horizon(profile(sandbox), clock=clock, host=plugin_host)
    assert unknown.works_until is None  # the portal's token: its end is not known yet
    assert not unknown.login_needed

    assert session.refresh() is not None  # refresh_access_token: 90 days from now
    ends = brokerauth.horizon(profile(sandbox), clock=clock, host=plugin_host)
    assert ends.works_until == clock.now() + timedelta(days=90)
    assert ends.must_act_by is None  # each refresh pushes it back

    binding = open_binding(profile(sandbox), clock=clock, host=plugin_host, interactive=False)
    clock.advance(80 * DAY)
    assert keep_alive(binding, WINDOW).action == "none"  # 10 days left: not due
    clock.advance(8 * DAY)
    kept = keep_alive(binding, WINDOW)
    assert kept.action == "refreshed"
    assert kept.works_until == clock.now() + timedelta(days=90)
    assert sandbox.stats["legacy_refresh"] == 2
    assert brokerauth.session(profile(sandbox), clock=clock,
                              host=plugin_host).get("/v1/quote/snapshot").ok


def test_the_registry_lists_futu_logins_through_the_host(
    oauth_sandbox: FutuSandbox, open_futu: Any, clock: ManualClock, plugin_host: PluginHost,
) -> None:
    session = open_futu(oauth_sandbox, name="fu")
    assert session.get("/v1/quote/snapshot").ok
    table = {"broker": "futu", **oauth_sandbox.profile_settings()}
    (grant,) = brokerauth.users(Profile.from_mapping("fu", table), clock=clock,
                                host=plugin_host)
    assert grant.identity == "default"
    assert grant.state == "fresh"
    assert grant.facts["futu_id"] == "10000001"
