"""The core's contract suite (brokerauth.testing.BrokerContract) run against this plugin and
its sandbox: once with the 2FA token required, once without."""

from __future__ import annotations

from typing import Any

from brokerauth.clock import ManualClock
from brokerauth.pluginhost import PluginHost
from brokerauth.profiles import Profile
from brokerauth.resolve import resolve_profile
from brokerauth.secrets import Secret
from brokerauth.testing import BrokerContract
from brokerauth.wire import Request

#: Kept as a secret reference (so it stays out of shared profile files) but sent by protocol
#: in ``x-app-key``: it names the app, the app secret is the HMAC key.
SENT_BY_PROTOCOL = frozenset({"app_key"})


class _WebullContract(BrokerContract):
    broker = "webull"
    protected = ("GET", "/openapi/account/list")

    def test_signing_is_pure_and_keeps_secrets(
        self, plugin_host: PluginHost, contract_sandbox: Any, manual_clock: ManualClock
    ) -> None:
        """The core's check, except that ``app_key`` may appear (in ``x-app-key``): the core's
        version treats every secret reference as never-sent (see the report for the change
        asked of the core)."""
        settings = contract_sandbox.profile_settings()
        resolved = resolve_profile(
            Profile.from_mapping("contract", {"broker": self.broker, **settings}), plugin_host
        )
        signer = resolved.signer
        request = Request.from_url("POST", contract_sandbox.base_url + "/x?a=1", body=b'{"k":"v"}')
        now = manual_clock.now()

        def sign(nonce: str) -> dict[str, str]:
            return dict(plugin_host.sign_request(
                signer.name, request, resolved.settings, None, now, nonce, owner=signer.owner
            ))

        first = sign("0" * 32)
        assert first == sign("0" * 32), "same inputs must give the same headers"
        assert first != sign("1" * 32), "the nonce must change the signature"
        assert first["x-app-key"] == settings["app_key"].reveal()
        secrets = [
            value.reveal()
            for key, value in settings.items()
            if isinstance(value, Secret) and key not in SENT_BY_PROTOCOL
        ]
        assert secrets, "the app secret must be among the values checked"
        for value in first.values():
            for secret in secrets:
                assert secret not in value, "a secret was sent in a header"


class TestWebullContractWithTwoFactor(_WebullContract):
    def prepare_sandbox(self, sandbox: Any) -> None:
        # Webull's test environment: tokens are valid at once, so a login needs no person;
        # the account requires the token, so the protected call proves it was sent.
        sandbox.two_factor_required = True
        sandbox.auto_verify = True


class TestWebullContractWithoutTwoFactor(_WebullContract):
    def prepare_sandbox(self, sandbox: Any) -> None:
        sandbox.two_factor_required = False
