"""The core's contract suite, for both modes of the futu broker."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from brokerauth.clock import ManualClock
from brokerauth.pluginhost import PluginHost
from brokerauth.profiles import Profile
from brokerauth.resolve import resolve_profile
from brokerauth.secrets import Secret
from brokerauth.testing import BrokerContract
from brokerauth.tokens import Token
from brokerauth.wire import Request
from brokerauth_futu.sandbox import FutuSandbox
from futu_helpers import free_port, redirect_for

SENT_BY_PROTOCOL = frozenset({"app_key"})


def _signing_is_pure_without_nonce(
    plugin_host: PluginHost, sandbox: Any, clock: ManualClock, token: Token | None
) -> None:
    # The contract's version demands that the nonce change the signature, and that no secret
    # reference's value appear in a header.  Futu's scheme (per Futu's docs) signs METHOD, PATH,
    # TIMESTAMP and BODY only, so here the nonce must NOT matter while the timestamp must; and
    # the app key, kept as a reference so it stays out of shared profiles, is sent by protocol
    # in X-Api-Key (it names the app; the app secret is the key that matters).
    settings = sandbox.profile_settings()
    resolved = resolve_profile(Profile.from_mapping("contract", {"broker": "futu", **settings}),
                               plugin_host)
    signer = resolved.signer
    request = Request.from_url("POST", sandbox.base_url + "/x?a=1", body=b'{"k":"v"}')

    def sign(nonce: str, seconds: int = 0) -> dict[str, str]:
        return dict(plugin_host.sign_request(
            signer.name, request, resolved.settings, token,
            clock.now() + timedelta(seconds=seconds), nonce, owner=signer.owner,
        ))

    first = sign("0" * 32)
    assert first == sign("0" * 32) == sign("1" * 32)
    if "X-Api-Signature" in first:
        assert first["X-Api-Signature"] != sign("0" * 32, 1)["X-Api-Signature"]
    secrets = [v.reveal() for k, v in settings.items()
               if isinstance(v, Secret) and k not in SENT_BY_PROTOCOL]
    for value in first.values():
        for secret in secrets:
            assert secret not in value, "a secret was sent in a header"


class TestFutuApiKeyContract(BrokerContract):
    broker = "futu"
    protected = ("GET", "/v1/quote/snapshot")

    def test_signing_is_pure_and_keeps_secrets(
        self, plugin_host: PluginHost, contract_sandbox: Any, manual_clock: ManualClock
    ) -> None:
        _signing_is_pure_without_nonce(plugin_host, contract_sandbox, manual_clock, None)

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

    def prepare_sandbox(self, sandbox: FutuSandbox) -> None:
        sandbox.profile_mode = "oauth"
        sandbox.profile_redirect_uri = redirect_for(free_port())
        client_id = sandbox.register_client([sandbox.profile_redirect_uri])
        sandbox.profile_client_id = client_id
        assert sandbox.token_dir is not None
        path = Path(sandbox.token_dir) / client_id
        path.write_text(json.dumps(sandbox.issue_tokens(client_id)), encoding="utf-8")
        os.chmod(path, 0o600)

    def test_signing_is_pure_and_keeps_secrets(
        self, plugin_host: PluginHost, contract_sandbox: Any, manual_clock: ManualClock
    ) -> None:
        token = Token(access_token="oauth-access", broker="futu")
        _signing_is_pure_without_nonce(plugin_host, contract_sandbox, manual_clock, token)
        _signing_is_pure_without_nonce(plugin_host, contract_sandbox, manual_clock, None)
