"""Parts of the ``webull-2fa`` flow on their own: the rate limiter, the config answer, and
the network failing during a wait."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import BrokerError, ResponseError, TransportError
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.interaction import LogInteraction
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import SandboxResponse
from brokerauth_webull import twofactor
from brokerauth_webull.sandbox.server import WebullSandbox
from brokerauth_webull.settings import WebullSettings
from webull_helpers import SmsUser

ACCOUNTS = "/openapi/account/list"


# -- GET /openapi/config, with a scripted HTTP client ----------------------------------------
class ScriptedHttp:
    """An HttpClient answering from a script, keeping what it was asked."""

    def __init__(self, *answers: tuple[int, Any]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, url: str, *, headers: Any = None, **_: Any) -> Response:
        self.calls.append((method, url, dict(headers or {})))
        status, body = self.answers.pop(0)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = Request.from_url(method, "https://api.webull.com" + url)
        return Response(status, {"Content-Type": "application/json"}, content, request)


def context_with(http: ScriptedHttp, **settings: Any) -> FlowContext:
    return FlowContext(
        profile="p",
        broker="webull",
        identity="default",
        settings=WebullSettings(
            app_key=Secret.from_value("k"), app_secret=Secret.from_value("s"), **settings
        ),
        options=None,
        clock=ManualClock(),
        http=http,
        interaction=LogInteraction(),
    )


@pytest.mark.parametrize(
    ("body", "enabled"),
    [
        ({"token_check_enabled": True}, True),
        ({"token_check_enabled": False}, False),
        ({"token_check_enabled": "true"}, True),
        ({"data": {"token_check_enabled": True}}, True),
    ],
)
def test_config_answers(body: Any, enabled: bool) -> None:
    http = ScriptedHttp((200, body))
    context = context_with(http)
    assert twofactor.token_required(context, twofactor.TokenApi(context)) is enabled
    ((method, url, headers),) = http.calls
    assert (method, url) == ("GET", "/openapi/config")
    assert headers == {"x-version": "v2"}


@pytest.mark.parametrize("body", [{}, {"token_check_enabled": "maybe"}, [True], b"<html>"])
def test_config_answer_without_a_verdict_is_a_response_error(body: Any) -> None:
    context = context_with(ScriptedHttp((200, body)))
    with pytest.raises(ResponseError) as caught:
        twofactor.token_required(context, twofactor.TokenApi(context))
    if isinstance(body, dict):
        assert 'two_factor = "on" or "off"' in str(caught.value)


def test_config_refused_is_a_broker_error() -> None:
    context = context_with(ScriptedHttp((404, {"error_code": "NOT_FOUND", "message": "nope"})))
    with pytest.raises(BrokerError) as caught:
        twofactor.token_required(context, twofactor.TokenApi(context))
    assert caught.value.code == "NOT_FOUND"


@pytest.mark.parametrize(("mode", "expected"), [("on", True), ("off", False)])
def test_on_and_off_never_ask(mode: str, expected: bool) -> None:
    http = ScriptedHttp()
    context = context_with(http, two_factor=mode)
    assert twofactor.token_required(context, twofactor.TokenApi(context)) is expected
    assert http.calls == []


# -- the network failing while the user types the code ---------------------------------------
@pytest.fixture
def tokenless(webull: WebullSandbox) -> WebullSandbox:
    """API calls need no token, so scripted token answers can carry made-up tokens."""
    webull.two_factor_required = False
    return webull


def pending(token: str = "made-up") -> SandboxResponse:
    return SandboxResponse.json({"token": token, "status": "PENDING", "expires_at": 0})


def normal(clock: ManualClock) -> SandboxResponse:
    expires = int((clock.now() + timedelta(days=15)).timestamp() * 1000)
    return SandboxResponse.json({"status": "NORMAL", "expires_at": expires})


def test_a_dropped_check_is_tried_again(
    tokenless: WebullSandbox, open_session: Callable[..., Session], manual_clock: ManualClock
) -> None:
    tokenless.token_faults.extend(
        [pending(), SandboxResponse.drop(), SandboxResponse.drop(), normal(manual_clock)]
    )
    session = open_session(tokenless, interaction=SmsUser(tokenless, enter_at=None),
                           two_factor="on")
    assert session.get(ACCOUNTS).ok
    token = session.tokens.peek()
    assert token is not None
    assert token.access_token == "made-up"


def test_a_dead_network_ends_the_wait(
    tokenless: WebullSandbox, open_session: Callable[..., Session]
) -> None:
    tokenless.token_faults.extend([pending()] + [SandboxResponse.drop()] * 3)
    session = open_session(tokenless, interaction=SmsUser(tokenless, enter_at=None),
                           two_factor="on")
    with pytest.raises(TransportError):
        session.get(ACCOUNTS)
    assert len(tokenless.token_requests) == 1 + twofactor.MAX_POLL_FAILURES


def test_a_check_about_another_token_is_refused(
    tokenless: WebullSandbox, open_session: Callable[..., Session], manual_clock: ManualClock
) -> None:
    expires = int((manual_clock.now() + timedelta(days=15)).timestamp() * 1000)
    tokenless.token_faults.extend([
        pending("mine"),
        SandboxResponse.json({"token": "theirs", "status": "NORMAL", "expires_at": expires}),
    ])
    session = open_session(tokenless, interaction=SmsUser(tokenless, enter_at=None),
                           two_factor="on")
    with pytest.raises(ResponseError, match="another token"):
        session.get(ACCOUNTS)
