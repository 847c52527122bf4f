"""The core's contract suite (brokerauth_sandbox.pytest_plugin.BrokerContract) run against this
plugin and its sandbox: once with the 2FA token required, once without."""

from __future__ import annotations

from typing import Any

from brokerauth_sandbox.pytest_plugin import BrokerContract


class _WebullContract(BrokerContract):
    broker = "webull"
    protected = ("GET", "/openapi/account/list")
    # Kept as a secret reference (so it stays out of shared profile files) but sent by
    # protocol in x-app-key: it names the app; the app secret is the HMAC key.
    sent_in_clear = ("app_key",)


class TestWebullContractWithTwoFactor(_WebullContract):
    def prepare_sandbox(self, sandbox: Any) -> None:
        # Webull's test environment: tokens are valid at once, so a login needs no person;
        # the account requires the token, so the protected call proves it was sent.
        sandbox.two_factor_required = True
        sandbox.auto_verify = True


class TestWebullContractWithoutTwoFactor(_WebullContract):
    def prepare_sandbox(self, sandbox: Any) -> None:
        sandbox.two_factor_required = False
