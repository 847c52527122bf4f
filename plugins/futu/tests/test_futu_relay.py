"""``brokerauth login --notify`` for a browser login: the authorization link goes through the
profile's notifier too, for the owner to open on a phone (here the headless browser opens it),
over real HTTP to a webhook on loopback."""

from __future__ import annotations

from pathlib import Path

from brokerauth.engine.api import open_binding
from brokerauth.engine.notices import Relay
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.sessions import Session
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.pytest_plugin import NOTIFY_WEBHOOK
from brokerauth_sandbox.receiver import WebhookReceiver
from brokerauth_sandbox.server import HeadlessBrowser


def test_the_login_link_is_relayed(
    oauth_sandbox: FutuSandbox, clock: ManualClock, plugin_host: PluginHost,
    webhook: WebhookReceiver, browser: HeadlessBrowser, token_home: Path,
) -> None:
    profile = Profile.from_mapping("fu", {"broker": "futu", **oauth_sandbox.profile_settings(),
                                          "notify": NOTIFY_WEBHOOK})
    binding = open_binding(profile, clock=clock, host=plugin_host, interaction=browser)
    binding.interaction = Relay(binding.interaction, binding)
    session = Session(binding, binding.resolved.profile.options)
    assert session.login() is not None
    (link,) = [e for e in webhook.events if e["login_url"]]
    assert link["event"] == "login_needed"
    assert link["login_url"] == browser.visited[0]
    assert link["login_url"].startswith(oauth_sandbox.base_url + "/oauth2/authorize?")
