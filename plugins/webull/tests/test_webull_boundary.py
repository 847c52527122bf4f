"""Webull's credentials (x-app-key, x-signature, the 2FA token in x-access-token) go to the
profile's Webull origins only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import OriginError
from brokerauth.engine.profiles import Profile
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.server import RecordingServer
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import SmsUser

ACCOUNTS = "/openapi/account/list"


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def test_the_2fa_token_and_signature_never_reach_another_origin(
    webull: WebullSandbox, open_session: Callable[..., Session], recorder: RecordingServer
) -> None:
    session = open_session(webull, interaction=SmsUser(webull), two_factor="on")
    assert session.get(ACCOUNTS).ok
    assert session.tokens.peek() is not None  # a token that would be attached
    for method in ("GET", "POST", "DELETE"):
        with pytest.raises(OriginError) as caught:
            session.request(method, recorder.base_url + ACCOUNTS, json={"qty": 1})
        assert recorder.base_url in str(caught.value)
    assert recorder.seen == []


def test_the_environment_declares_its_quotes_and_events_hosts(token_home: Any) -> None:
    profile = Profile.from_mapping("wb-us", {
        "broker": "webull", "environment": "us",
        "app_key": Secret.from_value("k" * 16), "app_secret": Secret.from_value("s" * 16),
    })
    with brokerauth.session(profile) as session:
        origins = {f"{scheme}://{host}" for scheme, host in session.binding.origins.ordered}
    assert origins == {"https://api.webull.com", "https://data-api.webull.com",
                       "https://events-api.webull.com"}
