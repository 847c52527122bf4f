"""How the client authenticates to the token endpoint (``token_auth_method``): in the body,
as Webull documents, or with HTTP Basic (RFC 6749 §2.3.1), for the code exchange and every
refresh alike; against a sandbox that takes one way only, over real HTTP."""

from __future__ import annotations

import logging
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.errors import BrokerError, ProfileError, RefreshError
from brokerauth.contract.scrub import MASK
from brokerauth_sandbox.echo import EchoServer, issued_by_the_echo, shown_problems
from connect_helpers import ACCOUNTS, profile_for

BASIC = "client_secret_basic"
# Form-urlencoding before Basic is what lets a colon, a plus or a non-ASCII character through.
AWKWARD_SECRET = "canary-basic:secret+Qm4 Xv7/é="


def test_basic_logs_in_and_refreshes_against_a_server_taking_only_basic(
    connect: Any, make_session: Any, manual_clock: Any
) -> None:
    connect.client_auth = BASIC
    connect.client_secret = AWKWARD_SECRET
    session = make_session(token_auth_method=BASIC)
    assert session.get(ACCOUNTS).ok
    assert connect.code_exchanges == 1
    first = session.token
    manual_clock.advance(1801)
    assert session.get(ACCOUNTS).ok
    assert connect.refresh_calls == 1
    assert session.token.refresh_token != first.refresh_token
    assert connect.rejections["token.client.error"] == 0


@pytest.mark.parametrize(("server", "client"), [
    (BASIC, None),                      # the default, the body, refused by a Basic server
    ("client_secret_post", BASIC),      # and the other way round
])
def test_the_wrong_method_fails_clearly(connect: Any, make_session: Any, server: str,
                                        client: str | None) -> None:
    connect.client_auth = server
    keys = {} if client is None else {"token_auth_method": client}
    session = make_session(**keys)
    with pytest.raises(BrokerError) as info:
        session.get(ACCOUNTS)
    assert (info.value.status, info.value.code) == (401, "token.client.error")
    assert "token_auth_method" in (info.value.hint or "")
    assert connect.code_exchanges == 0


def test_a_refresh_uses_the_method_too(connect: Any, make_session: Any,
                                       manual_clock: Any) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    # The server moves to Basic after the login: only a refresh can tell which way it went.
    connect.client_auth = BASIC
    manual_clock.advance(1801)
    with pytest.raises(RefreshError) as info:
        session.get(ACCOUNTS)
    assert "token_auth_method" in (info.value.hint or "")
    assert connect.rejections["token.client.error"] == 1
    manual_clock.advance(3)  # past the failed refresh's back-off
    again = make_session(token_auth_method=BASIC)
    assert again.get(ACCOUNTS).ok  # the same stored token, refreshed the server's way
    assert connect.refresh_calls == 1
    assert connect.code_exchanges == 1


def test_an_unknown_method_is_a_profile_error_naming_the_allowed_values(
    connect: Any, plugin_host: Any, token_home: Any
) -> None:
    with pytest.raises(ProfileError) as info:
        brokerauth.session(profile_for(connect, token_auth_method="basic"), host=plugin_host)
    assert info.value.key == "token_auth_method"
    assert "client_secret_post" in str(info.value)
    assert "client_secret_basic" in str(info.value)
    assert "'basic'" in str(info.value)


@pytest.mark.parametrize("part", ["headers", "all"])
def test_a_server_quoting_the_basic_header_shows_no_secret(
    connect: Any, make_session: Any, manual_clock: Any, caplog: pytest.LogCaptureFixture,
    part: str,
) -> None:
    connect.client_secret = AWKWARD_SECRET
    token = make_session().token  # logged in with the body method; refreshed with Basic
    with EchoServer(manual_clock, dialect="rfc", part=part) as echo:
        session = make_session(base_url=echo.base_url, token_auth_method=BASIC)
        issued_by_the_echo(session)
        caplog.set_level(logging.DEBUG)
        manual_clock.advance(1801)
        with pytest.raises(RefreshError) as caught:
            session.get(ACCOUNTS)
        (request,) = echo.received
    authorization = request.header("authorization") or ""
    assert authorization.startswith("Basic ")
    assert "client_secret" not in echo.form()  # one method per request
    sent = [AWKWARD_SECRET, authorization, authorization[6:], token.refresh_token,
            connect.app_secret, request.header("x-signature")]
    assert shown_problems([value for value in sent if value], error=caught.value,
                          records=caplog.records) == []
    assert MASK in caught.value.message  # the echo's text did arrive, masked
