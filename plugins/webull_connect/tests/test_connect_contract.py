"""The core's contract suite, run against the Webull Connect plugin and its sandbox.

The protected call needs a user's Bearer token, so the sandbox is prepared by logging in once
(through the loopback listener, a headless browser approving) for the profile the suite's
sessions use; their tokens then come from the store, and every check is about a real token.
"""

from __future__ import annotations

from typing import Any

import brokerauth
import pytest
from brokerauth.clock import ManualClock
from brokerauth.pluginhost import PluginHost
from brokerauth.profiles import Profile
from brokerauth.resolve import resolve_profile
from brokerauth.sandbox import HeadlessBrowser
from brokerauth.testing import BrokerContract
from brokerauth.wire import Request
from connect_helpers import ACCOUNTS, profile_for


class TestConnectContract(BrokerContract):
    broker = "webull_connect"
    protected = ("GET", ACCOUNTS)

    @pytest.fixture
    def contract_sandbox(
        self, sandbox_factory: Any, manual_clock: ManualClock, token_home: Any
    ) -> Any:
        # As the base fixture, plus token_home: the login below must never reach the real
        # user's token store, whatever order the suite's tests ask for fixtures in.
        sandbox = sandbox_factory(self.broker, clock=manual_clock)
        self.prepare_sandbox(sandbox)
        return sandbox

    def prepare_sandbox(self, sandbox: Any) -> None:
        sandbox.auto_approve = True
        # "test" is the profile name the suite's session_factory uses.
        with brokerauth.session(profile_for(sandbox, "test"), clock=sandbox.clock,
                                interaction=HeadlessBrowser()) as session:
            session.login()

    def test_signing_is_pure_and_keeps_secrets(
        self, plugin_host: PluginHost, contract_sandbox: Any, manual_clock: ManualClock
    ) -> None:
        # The base check counts every secret reference in the settings as never sent, but
        # the app key is one by the webull plugin's convention and x-app-key carries it by
        # design (PROTOCOLS.md §1).  The same check, with the app key expected in x-app-key.
        settings = contract_sandbox.profile_settings()
        resolved = resolve_profile(
            Profile.from_mapping("contract", {"broker": self.broker, **settings}), plugin_host
        )
        signer = resolved.signer
        request = Request.from_url("POST", contract_sandbox.base_url + "/x?a=1",
                                   body=b'{"k":"v"}')
        now = manual_clock.now()

        def sign(nonce: str) -> dict[str, str]:
            return dict(plugin_host.sign_request(
                signer.name, request, resolved.settings, None, now, nonce, owner=signer.owner
            ))

        first = sign("0" * 32)
        assert first == sign("0" * 32), "same inputs must give the same headers"
        assert first != sign("1" * 32), "the nonce must change the signature"
        assert first["x-app-key"] == settings["app_key"].reveal()
        never_sent = [settings[name].reveal() for name in ("client_secret", "app_secret")]
        for value in first.values():
            for secret in never_sent:
                assert secret not in value, "a secret was sent in a header"
