"""``brokerauth login --notify``: what a login asks of the person also goes through the
profile's notifier, so the owner can act from a phone while the login waits on a server —
here Webull's "confirm in the app" instruction, over real HTTP to a webhook on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import brokerauth
from brokerauth.engine.api import open_binding
from brokerauth.engine.notices import Relay
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.pytest_plugin import NOTIFY_WEBHOOK
from brokerauth_sandbox.receiver import WebhookReceiver
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import SmsUser

BROKERAUTH = str(Path(sys.executable).with_name("brokerauth"))


def test_the_two_factor_prompt_is_relayed_to_the_owner(
    webull: WebullSandbox, manual_clock: ManualClock, plugin_host: PluginHost,
    token_home: Path, webhook: WebhookReceiver,
) -> None:
    profile = Profile.from_mapping("wb", {"broker": "webull", **webull.profile_settings(),
                                          "two_factor": "on", "notify": NOTIFY_WEBHOOK})
    person = SmsUser(webull)
    binding = open_binding(profile, clock=manual_clock, host=plugin_host, interaction=person)
    binding.interaction = Relay(binding.interaction, binding)
    session = Session(binding, binding.resolved.profile.options)
    assert session.login() is not None
    told = [event for event in webhook.events if event["event"] == "login_needed"]
    assert told, "the instruction was not relayed"
    assert any("Webull App" in event["message"] for event in told)
    assert all(event["login_command"] == "brokerauth login wb" for event in told)
    assert set(person.said) <= {event["message"] for event in told}  # all of what was said
    assert brokerauth.horizon(profile, clock=manual_clock, host=plugin_host).works_until


def test_notify_without_a_notifier_is_refused_before_anything_is_sent(
    webull: WebullSandbox, tmp_path: Path, token_home: Path,
) -> None:
    path = tmp_path / "brokerauth.toml"
    path.write_text(f'[profiles.wb]\nbroker = "webull"\nbase_url = "{webull.base_url}"\n'
                    'app_key = { env = "WB_KEY" }\napp_secret = { env = "WB_SECRET" }\n',
                    encoding="utf-8")
    result = subprocess.run(
        [BROKERAUTH, "--profiles", str(path), "login", "wb", "--notify"], capture_output=True,
        text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, "WB_KEY": webull.app_key, "WB_SECRET": webull.app_secret})
    assert result.returncode == 2
    assert "names no notifier" in result.stderr
    assert 'notify = { name = "webhook"' in result.stderr
    assert webull.token_requests == []
