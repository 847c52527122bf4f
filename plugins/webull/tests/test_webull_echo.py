"""A token endpoint that quotes the whole request back in its error (guarantee 19): the 2FA
token's check (refresh, in both windows) and create (with the previous token, and without)
show none of the secrets sent (the 2FA token, app key, app secret, HMAC signature) and none of
the server's control characters, in the error, its traceback, or any log line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import BrokerError, RefreshError
from brokerauth.contract.scrub import MASK
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.echo import EchoServer, issued_by_the_echo, shown_problems
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import NobodyThere, SmsUser

ACCOUNTS = "/openapi/account/list"
OpenSession = Callable[..., Session]


@pytest.fixture(params=[(dialect, part) for dialect in ("error_code", "rfc")
                        for part in ("body", "quoted-body", "headers")],
                ids=lambda param: "-".join(param))
def echo(request: pytest.FixtureRequest, manual_clock: ManualClock) -> Iterator[EchoServer]:
    dialect, part = request.param
    with EchoServer(manual_clock, dialect=dialect, part=part) as server:
        yield server


@pytest.fixture
def verified(webull: WebullSandbox, open_session: OpenSession) -> Session:
    """A session of profile ``wb`` whose 2FA token was verified by SMS in the sandbox."""
    session = open_session(webull, interaction=SmsUser(webull), two_factor="on")
    assert session.get(ACCOUNTS).ok
    return session


def echo_session(open_session: OpenSession, webull: WebullSandbox, echo: EchoServer,
                 **keys: Any) -> Session:
    # Profile ``wb`` again (the same stored token), its API and token endpoints the echo.
    session = open_session(webull, interaction=NobodyThere(webull), two_factor="on",
                           base_url=echo.base_url, **keys)
    issued_by_the_echo(session)
    return session


def sent(echo: EchoServer, webull: WebullSandbox, *tokens: str) -> list[str]:
    signatures = [request.header("x-signature") or "" for request in echo.received]
    assert echo.received
    assert all(signatures)
    return [webull.app_key, webull.app_secret, *signatures, *tokens]


def assert_echo_arrived(message: str) -> None:
    # The server's text did reach the error, masked: the test is not passing on a default.
    assert "[2J" in message, message
    assert MASK in message, message


def test_check_in_the_advisory_window_logs_a_warning_with_no_secret_shown(
    webull: WebullSandbox, verified: Session, open_session: OpenSession, echo: EchoServer,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    token = verified.token
    session = echo_session(open_session, webull, echo)
    caplog.set_level(logging.DEBUG)
    manual_clock.advance((token.expires_at - manual_clock.now()
                          - timedelta(seconds=200)).total_seconds())
    assert session.token == token
    (warning,) = [r for r in caplog.records if "early refresh failed" in r.getMessage()]
    assert_echo_arrived(warning.getMessage())
    assert echo.form()["token"] == token.access_token  # it was sent, so at risk
    assert shown_problems(sent(echo, webull, token.access_token), records=caplog.records) == []


def test_check_in_the_mandatory_window_raises_with_no_secret_shown(
    webull: WebullSandbox, verified: Session, open_session: OpenSession, echo: EchoServer,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    token = verified.token
    session = echo_session(open_session, webull, echo)
    caplog.set_level(logging.DEBUG)
    manual_clock.advance((token.expires_at - manual_clock.now()
                          - timedelta(seconds=30)).total_seconds())
    with pytest.raises(RefreshError) as caught:
        session.get(ACCOUNTS)
    assert_echo_arrived(caught.value.message)
    assert shown_problems(sent(echo, webull, token.access_token), error=caught.value,
                          records=caplog.records) == []


def test_create_with_the_previous_token_shows_no_secret(
    webull: WebullSandbox, verified: Session, open_session: OpenSession, echo: EchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = verified.token
    session = echo_session(open_session, webull, echo)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BrokerError) as caught:
        session.login()  # create, passing the stored token so Webull could hand it back
    assert echo.form()["token"] == token.access_token
    assert_echo_arrived(caught.value.message)
    assert shown_problems(sent(echo, webull, token.access_token), error=caught.value,
                          records=caplog.records) == []


def test_create_of_a_first_token_shows_no_secret(
    webull: WebullSandbox, open_session: OpenSession, echo: EchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = echo_session(open_session, webull, echo, name="fresh")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BrokerError) as caught:
        session.get(ACCOUNTS)
    if echo.part == "headers":
        assert_echo_arrived(caught.value.message)
    else:  # the body of a first create is {}: nothing in it to mask
        assert "[2J" in caught.value.message
        assert "{}" in caught.value.message
    assert shown_problems(sent(echo, webull), error=caught.value,
                          records=caplog.records) == []
