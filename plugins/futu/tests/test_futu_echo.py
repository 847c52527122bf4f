"""A token endpoint that quotes the whole request back in its error (guarantee 19): the OAuth
refresh and the legacy API-key refresh, in both windows, show none of the secrets sent
(refresh and access tokens, app key, app secret, signature) and none of the server's control
characters, in the error, its traceback, or any log line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError
from brokerauth.contract.scrub import MASK
from brokerauth.engine.sessions import Session
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.echo import EchoServer, Part, issued_by_the_echo, shown_problems
from futu_helpers import CANARY_KEY, CANARY_SECRET, CANARY_TOKEN

SNAPSHOT = "/v1/quote/snapshot"
MakeEcho = Callable[..., EchoServer]


@pytest.fixture
def make_echo(clock: ManualClock) -> Iterator[MakeEcho]:
    started: list[EchoServer] = []

    def make(dialect: Any, part: Part) -> EchoServer:
        server = EchoServer(clock, dialect=dialect, part=part)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def until_expiry(clock: ManualClock, token: Any, seconds: float) -> None:
    clock.advance((token.expires_at - clock.now() - timedelta(seconds=seconds)).total_seconds())


def assert_echo_arrived(message: str) -> None:
    # The server's text did reach the error, masked: the test is not passing on a default.
    assert "[2J" in message, message
    assert MASK in message, message


def refresh_fails_quietly_then_loudly(
    session: Session, clock: ManualClock, caplog: pytest.LogCaptureFixture,
    secrets: Callable[[], list[str]],
) -> None:
    """Advisory window: a WARNING, the current token used; mandatory: a RefreshError. Neither
    shows a secret (``secrets()``, asked once all was sent) or a control character."""
    token = session.token
    assert token is not None
    caplog.set_level(logging.DEBUG)
    until_expiry(clock, token, 200)
    assert session.token == token
    (warning,) = [r for r in caplog.records if "early refresh failed" in r.getMessage()]
    assert_echo_arrived(warning.getMessage())
    clock.advance(200 - 30)
    with pytest.raises(RefreshError) as caught:
        session.get(SNAPSHOT)
    assert_echo_arrived(caught.value.message)
    assert shown_problems(secrets(), error=caught.value, records=caplog.records) == []


@pytest.mark.parametrize("dialect", ["rfc", "error_code"])
@pytest.mark.parametrize("part", ["body", "quoted-body", "all"])
def test_oauth_refresh_shows_no_secret(
    oauth_sandbox: FutuSandbox, open_futu: Any, make_echo: MakeEcho, clock: ManualClock,
    caplog: pytest.LogCaptureFixture, dialect: str, part: Part,
) -> None:
    first = open_futu(oauth_sandbox)
    assert first.get(SNAPSHOT).ok
    token = first.token
    echo = make_echo(dialect, part)
    # The same profile (and stored login), its API and OAuth server now the echo.
    session = open_futu(oauth_sandbox, base_url=echo.base_url, oauth_base_url=echo.base_url,
                        client_id=token.extra["client_id"], discovery=False)
    issued_by_the_echo(session)
    assert session.token.access_token == token.access_token
    refresh_fails_quietly_then_loudly(session, clock, caplog,
                                      lambda: [token.access_token, token.refresh_token])
    assert echo.form()["refresh_token"] == token.refresh_token  # it was sent, so at risk


@pytest.mark.parametrize("dialect", ["rfc", "error_code", "code-in-200"])
@pytest.mark.parametrize("part", ["headers", "all"])
def test_api_key_refresh_shows_no_secret(
    sandbox: FutuSandbox, open_futu: Any, make_echo: MakeEcho, clock: ManualClock,
    caplog: pytest.LogCaptureFixture, dialect: str, part: Part,
) -> None:
    first = open_futu(sandbox)
    token = first.refresh()  # a token with an expiry, so the windows apply
    assert token is not None
    assert token.access_token != CANARY_TOKEN
    echo = make_echo(dialect, part)
    session = open_futu(sandbox, base_url=echo.base_url)
    issued_by_the_echo(session)
    refresh_fails_quietly_then_loudly(session, clock, caplog, lambda: [
        CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, token.access_token,
        *(request.header("x-api-signature") or "" for request in echo.received),
    ])
    assert echo.received
    assert all(request.header("x-api-signature") for request in echo.received)
