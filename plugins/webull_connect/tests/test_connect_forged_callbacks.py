"""A Webull Connect loopback login in progress and forged ``error=`` callbacks (RFC 6749
§4.1.2.1, QUALITY item 14), over real HTTP: a web page aims the user's browser at the
loopback redirect with ``?error=access_denied`` (no state, a wrong state) before the user
approves.  Each gets HTTP 400, the login keeps waiting and completes with the real callback.
An error with the login's own state ends it, its reason masked; ``complete()`` on a
platform's server applies the same order (state first)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.toolkit.oauth import AuthorizationError, ForgedCallbackError
from brokerauth_sandbox.server import HeadlessBrowser
from brokerauth_webull_connect import begin_login, complete
from brokerauth_webull_connect.sandbox.server import DEFAULT_USER
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, get, profile_for

FORGED = ("error=access_denied", "error=access_denied&state=guessed-state",
          "error=access_denied&state=", "error=server_error&error_description=down")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


class ForgingPage(HeadlessBrowser):
    """Before the user approves, a hostile page fires forged error callbacks."""

    def __init__(self) -> None:
        super().__init__()
        self.forged: list[int] = []

    def open_url(self, url: str) -> None:
        redirect = query(url)["redirect_uri"]
        self.forged = [get(f"{redirect}?{forged}").status for forged in FORGED]
        super().open_url(url)  # the user approves; the real callback follows


class DenyingServer(HeadlessBrowser):
    """Webull's own denial, with this login's state and a hostile description."""

    state = ""

    def open_url(self, url: str) -> None:
        params = query(url)
        self.state = params["state"]
        text = quote(f"refused\x07 {self.state}\nagain\u2066" + "z" * 1000)
        self.final_status = get(f"{params['redirect_uri']}?error=access_denied"
                                f"&error_description={text}&state={self.state}").status


def test_forged_error_callbacks_get_400_and_the_login_completes(
    connect: Any, make_session: Any
) -> None:
    page = ForgingPage()
    session = make_session(interaction=page)
    assert session.get(ACCOUNTS).ok
    assert page.forged == [400, 400, 400, 400]
    assert page.final_status == 200
    assert session.token.identity == DEFAULT_USER
    assert connect.code_exchanges == 1


def test_an_error_with_the_right_state_ends_the_login_masked(
    connect: Any, make_session: Any
) -> None:
    denier = DenyingServer()
    session = make_session(interaction=denier)
    with pytest.raises(AuthorizationError) as info:
        session.login()
    assert isinstance(info.value, LoginRequiredError)
    message = info.value.message
    assert "authorization failed: access_denied" in message
    assert denier.state not in message
    assert "***" in message
    assert not any(c in message for c in "\x07\n\u2066")
    assert len(message) < 400
    assert denier.final_status == 400
    assert connect.code_exchanges == 0
    assert session.binding.load() is None


def test_complete_checks_the_state_before_the_error(
    connect: Any, token_home: Any, plugin_host: Any
) -> None:
    connect.redirect_uri = PLATFORM_REDIRECT
    profile = profile_for(connect)
    pending = begin_login(profile, host=plugin_host, clock=connect.clock)
    for forged in FORGED:
        with pytest.raises(ForgedCallbackError, match="state does not match"):
            complete(pending, f"{PLATFORM_REDIRECT}?{forged}", profile=profile,
                     host=plugin_host, clock=connect.clock)
    assert connect.code_exchanges == 0
