"""A Futu login in progress and forged ``error=`` callbacks (RFC 6749 §4.1.2.1, QUALITY item
14), over real HTTP: while the browser is at Futu's authorization page, a web page aims the
user's browser at the loopback redirect with ``?error=access_denied`` (no state, a wrong
state).  Each gets HTTP 400, the login keeps waiting, and completes with the real callback.
An error carrying the login's own state ends it, its reason masked."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.toolkit.oauth import AuthorizationError
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.server import HeadlessBrowser

FORGED = ("error=access_denied", "error=access_denied&state=guessed-state",
          "error=access_denied&state=")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def visit(url: str) -> int:
    """One GET like a browser's (http.client: urllib3 would log the URL at DEBUG)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class ForgingPage(HeadlessBrowser):
    """Before the user approves, a hostile page fires forged error callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.forged: list[int] = []

    def open_url(self, url: str) -> None:
        redirect = query(url)["redirect_uri"]
        self.forged = [visit(f"{redirect}?{forged}") for forged in FORGED]
        super().open_url(url)  # the user approves; the real callback follows


class DenyingServer(HeadlessBrowser):
    """The authorization server's own denial, with this login's state and a hostile text."""

    def open_url(self, url: str) -> None:
        params = query(url)
        text = quote(f"no\x1b[2J for {params['state']}\r\nretry\u202e" + "y" * 1000)
        self.final_status = visit(f"{params['redirect_uri']}?error=access_denied"
                                  f"&error_description={text}&state={params['state']}")
        self.visited.append(params["state"])  # kept for the test's assertion


@pytest.fixture
def browser() -> HeadlessBrowser:
    return ForgingPage()


def test_forged_error_callbacks_get_400_and_the_login_completes(
    oauth_sandbox: FutuSandbox, open_futu: Any, browser: ForgingPage, futu_tokens: Path
) -> None:
    session = open_futu(oauth_sandbox)
    assert session.get("/v1/quote/snapshot").ok
    assert browser.forged == [400, 400, 400]
    assert browser.final_status == 200  # the real callback was accepted after them
    token = session.token
    assert (futu_tokens / token.extra["client_id"]).exists()
    assert oauth_sandbox.stats["code_exchange"] == 1


def test_an_error_with_the_right_state_ends_the_login_masked(
    oauth_sandbox: FutuSandbox, plugin_host: Any, clock: Any
) -> None:
    from brokerauth.engine.api import session as open_session
    from brokerauth.engine.profiles import Profile

    denier = DenyingServer()
    table = {"broker": "futu", **oauth_sandbox.profile_settings()}
    session = open_session(Profile.from_mapping("futu-deny", table), clock=clock,
                           interaction=denier, host=plugin_host)
    try:
        with pytest.raises(AuthorizationError) as info:
            session.login()
    finally:
        session.close()
    assert isinstance(info.value, LoginRequiredError)
    message = info.value.message
    assert "authorization failed: access_denied" in message
    state = denier.visited[-1]
    assert state not in message
    assert "***" in message
    assert not any(c in message for c in "\x1b\r\n\u202e")
    assert len(message) < 400
    assert denier.final_status == 400
    assert oauth_sandbox.stats["code_exchange"] == 0
    assert session.binding.load() is None
