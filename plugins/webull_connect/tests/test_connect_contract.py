"""The core's contract suite, run against the Webull Connect plugin and its sandbox.

The protected call needs a user's Bearer token, so the sandbox is prepared by logging in once
(through the loopback listener, a headless browser approving) for the profile the suite's
sessions use; their tokens then come from the store, and every check is about a real token.
"""

from __future__ import annotations

from typing import Any

import brokerauth
from brokerauth_sandbox.pytest_plugin import BrokerContract
from brokerauth_sandbox.server import HeadlessBrowser
from connect_helpers import ACCOUNTS, profile_for


class TestConnectContract(BrokerContract):
    broker = "webull_connect"
    protected = ("GET", ACCOUNTS)
    # The app key is a secret reference by the webull plugin's convention, and x-app-key
    # carries it by design.
    sent_in_clear = ("app_key",)

    def prepare_sandbox(self, sandbox: Any) -> None:
        sandbox.auto_approve = True
        # "test" is the profile name the suite's session_factory uses.
        with brokerauth.session(profile_for(sandbox, "test"), clock=sandbox.clock,
                                interaction=HeadlessBrowser()) as session:
            session.login()
