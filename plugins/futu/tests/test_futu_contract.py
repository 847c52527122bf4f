"""The core's contract suite, for both modes of the futu broker."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.pytest_plugin import BrokerContract
from futu_helpers import free_port, redirect_for


class TestFutuApiKeyContract(BrokerContract):
    broker = "futu"
    protected = ("GET", "/v1/quote/snapshot")
    # Futu's scheme signs METHOD, PATH, TIMESTAMP and BODY: no nonce. The app key is kept as
    # a reference (so it stays out of shared profiles) but X-Api-Key sends it by protocol.
    signature_covers = "time"
    sent_in_clear = ("app_key",)

    def test_sandbox_tokens_stay_in_the_sandbox_folder(
        self, session_factory: Any, contract_sandbox: Any
    ) -> None:
        session = session_factory(contract_sandbox)
        assert session.request(*self.protected).ok
        assert list(Path(contract_sandbox.token_dir).rglob("default.json"))


class TestFutuOAuthContract(BrokerContract):
    """OAuth mode without a person: the SDK "logged in" earlier for a registered client, and
    brokerauth adopts that login from the SDK's token file."""

    broker = "futu"
    protected = ("GET", "/v1/quote/snapshot")
    signature_covers = "none"  # a Bearer token only

    def prepare_sandbox(self, sandbox: FutuSandbox) -> None:
        sandbox.profile_mode = "oauth"
        sandbox.profile_redirect_uri = redirect_for(free_port())
        client_id = sandbox.register_client([sandbox.profile_redirect_uri])
        sandbox.profile_client_id = client_id
        assert sandbox.token_dir is not None
        path = Path(sandbox.token_dir) / client_id
        path.write_text(json.dumps(sandbox.issue_tokens(client_id)), encoding="utf-8")
        os.chmod(path, 0o600)
