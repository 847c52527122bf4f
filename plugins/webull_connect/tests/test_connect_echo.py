"""A token endpoint that quotes the whole request back in its error (guarantee 19): the
refresh in both windows and the code exchange show none of the secrets sent (client secret,
refresh and access tokens, app secret, HMAC signature, code, PKCE verifier) and none of the
server's control characters, in the error, its traceback, or any log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import BrokerError, RefreshError
from brokerauth.contract.scrub import MASK
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.echo import EchoServer, issued_by_the_echo, shown_problems
from brokerauth_webull_connect.sandbox.server import ConnectSandbox
from connect_helpers import ACCOUNTS

# URL-encoding and JSON-escaping change every character after the first slash: an echo of a
# form or a JSON body shows this secret only in those forms.
ODD_SECRET = 'canary-client/secret+Qm4 Xv7=é"&;'


@pytest.fixture(params=[(dialect, part) for dialect in ("rfc", "error_code")
                        for part in ("body", "quoted-body", "headers")],
                ids=lambda param: "-".join(param))
def echo(request: pytest.FixtureRequest, manual_clock: ManualClock) -> Iterator[EchoServer]:
    dialect, part = request.param
    with EchoServer(manual_clock, dialect=dialect, part=part) as server:
        yield server


@pytest.fixture
def logged_in(make_session: Any) -> Session:
    """A user's token, obtained from the sandbox and stored under profile ``connect``."""
    session: Session = make_session()
    assert session.get(ACCOUNTS).ok
    return session


def echo_session(make_session: Any, echo: EchoServer, token_body: str) -> Session:
    """Profile ``connect`` again (the same stored token), its API and token endpoint now the
    echo, with a client secret that encodes differently in a form and in JSON."""
    session: Session = make_session(base_url=echo.base_url, token_body=token_body,
                                    client_secret=Secret.from_value(ODD_SECRET))
    issued_by_the_echo(session)
    return session


def sent(echo: EchoServer, connect: ConnectSandbox, *tokens: Any) -> list[str]:
    """Every secret the client sent the echo (and the app secret, which signs but never
    travels)."""
    (request,) = echo.received
    fields = echo.form()
    values = [ODD_SECRET, connect.app_secret, connect.app_key, request.header("x-signature"),
              fields.get("refresh_token"), fields.get("code"), fields.get("code_verifier")]
    for token in tokens:
        values += [token.access_token, token.refresh_token]
    return [value for value in values if value]


def assert_echo_arrived(message: str) -> None:
    # The server's text did reach the error, masked: the test is not passing on a default.
    assert "[2J" in message, message
    assert MASK in message, message


def until_expiry(clock: ManualClock, token: Any, seconds: float) -> None:
    clock.advance((token.expires_at - clock.now() - timedelta(seconds=seconds)).total_seconds())


@pytest.mark.parametrize("token_body", ["form", "json"])
def test_refresh_in_the_mandatory_window_raises_with_no_secret_shown(
    connect: ConnectSandbox, logged_in: Session, make_session: Any, echo: EchoServer,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture, token_body: str,
) -> None:
    token = logged_in.token
    session = echo_session(make_session, echo, token_body)
    caplog.set_level(logging.DEBUG)
    until_expiry(manual_clock, token, 30)
    with pytest.raises(RefreshError) as caught:
        session.get(ACCOUNTS)
    assert shown_problems(sent(echo, connect, token), error=caught.value,
                          records=caplog.records) == []
    assert_echo_arrived(caught.value.message)


@pytest.mark.parametrize("token_body", ["form", "json"])
def test_refresh_in_the_advisory_window_logs_a_warning_with_no_secret_shown(
    connect: ConnectSandbox, logged_in: Session, make_session: Any, echo: EchoServer,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture, token_body: str,
) -> None:
    token = logged_in.token
    session = echo_session(make_session, echo, token_body)
    caplog.set_level(logging.DEBUG)
    until_expiry(manual_clock, token, 200)
    assert session.token == token  # still valid: the failure is only news
    (warning,) = [r for r in caplog.records if "early refresh failed" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert shown_problems(sent(echo, connect, token), records=caplog.records) == []
    assert_echo_arrived(warning.getMessage())


def test_the_code_exchange_shows_neither_code_nor_verifier(
    connect: ConnectSandbox, make_session: Any, echo: EchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The login page is the sandbox's (it approves at once and redirects a real code to the
    loopback listener); the code, its PKCE verifier and the secret go to the echo."""
    session: Session = make_session(base_url=echo.base_url, pkce=True,
                                    login_url=connect.login_url,
                                    client_secret=Secret.from_value(ODD_SECRET))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BrokerError) as caught:
        session.get(ACCOUNTS)
    secrets = sent(echo, connect)
    fields = echo.form()
    # Both were sent, so both were at risk.
    assert fields["code"]
    assert fields["code_verifier"]
    assert shown_problems(secrets, error=caught.value, records=caplog.records) == []
    assert_echo_arrived(caught.value.message)
