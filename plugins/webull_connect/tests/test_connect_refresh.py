"""Keeping a user's token alive: expiry, refresh with rotation, family revocation on reuse,
refresh-token expiry, the 401 resend, and revoked grants — over real HTTP."""

from __future__ import annotations

import pickle
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from brokerauth.contract.errors import AuthenticationError, LoginRequiredError, RefreshError
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.interaction import LogInteraction
from brokerauth.contract.tokens import Token
from brokerauth.engine import failures
from brokerauth_webull_connect import AuthorizationRequired, complete, flow
from brokerauth_webull_connect.sandbox.server import free_loopback_port, rfc6750_invalid_token
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve

# Access tokens live 1800 s: advisory window from 300 s before expiry, mandatory from 60 s.


@pytest.fixture
def session(connect: Any, make_session: Any) -> Any:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    return session


def refresh_with(session: Any, token: Token) -> Token:
    """Run the plugin's refresh directly, as the core would, with ``token``."""
    context: FlowContext = session.binding.flow_context(token)
    return flow.refresh(context, token)


def test_expiry_refreshes_and_rotates(connect: Any, session: Any, manual_clock: Any) -> None:
    first = session.token
    manual_clock.advance(1800 + 1)
    response = session.get(ACCOUNTS)
    assert response.status == 200
    second = session.token
    assert connect.refresh_calls == 1
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token  # rotated
    assert second.identity == first.identity
    assert second.expires_at == manual_clock.now() + timedelta(minutes=30)
    # The refresh token's 15 days count from the login, not from this refresh.
    assert second.refresh_expires_at == first.refresh_expires_at
    assert session.binding.load() == second
    # The old refresh token is now refused by the server ...
    assert not connect.refresh_token_usable(first.refresh_token)
    assert connect.refresh_token_usable(second.refresh_token)


def test_reusing_a_rotated_refresh_token_revokes_the_family(
    connect: Any, session: Any, manual_clock: Any
) -> None:
    first = session.token
    manual_clock.advance(1801)
    assert session.get(ACCOUNTS).ok
    second = session.token
    # ... and presenting it again (theft, or a second copy) ends the whole login.
    with pytest.raises(LoginRequiredError) as info:
        refresh_with(session, first)
    assert info.value.login_url is not None
    assert connect.invalid_grants == 1
    assert not connect.family_valid(second.refresh_token)
    # Every token of the login, the access token still in its lifetime included.
    with pytest.raises(AuthenticationError, match="revoked"):
        session.get(ACCOUNTS)
    manual_clock.advance(1801)
    with pytest.raises(LoginRequiredError):
        session.get(ACCOUNTS)


def test_advisory_window_refreshes_once_and_tolerates_failure(
    connect: Any, session: Any, manual_clock: Any, caplog: Any
) -> None:
    old = session.token
    manual_clock.advance(1800 - 200)
    connect.fail_refresh = [503]
    assert session.get(ACCOUNTS).status == 200  # the still-valid token was used
    assert session.tokens.peek().access_token == old.access_token
    assert "early refresh failed" in caplog.text
    assert session.get(ACCOUNTS).ok  # still the old token: early refreshes pause 30 s
    assert connect.refresh_calls == 1
    manual_clock.advance(31)
    assert session.get(ACCOUNTS).ok  # the next try refreshes
    assert session.tokens.peek().access_token != old.access_token
    assert connect.refresh_calls == 2


def test_mandatory_window_failure_is_a_typed_error_and_keeps_the_token(
    connect: Any, session: Any, manual_clock: Any
) -> None:
    old = session.token
    manual_clock.advance(1800 - 30)
    connect.fail_refresh = [500]
    with pytest.raises(RefreshError, match="temporarily unavailable"):
        session.get(ACCOUNTS)
    assert session.binding.load() == old
    manual_clock.advance(failures.backoff(1))  # the next try waits for the back-off
    assert session.get(ACCOUNTS).ok


def test_64_threads_on_an_expired_token_refresh_once(
    connect: Any, session: Any, manual_clock: Any
) -> None:
    manual_clock.advance(1801)
    connect.refresh_delay = 0.05  # keep the refresh in flight while the others arrive
    barrier = threading.Barrier(64)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(session.get(ACCOUNTS).status)

    threads = [threading.Thread(target=call) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 64
    assert connect.refresh_calls == 1
    assert connect.invalid_grants == 0
    assert connect.family_valid(session.binding.load().refresh_token)


def test_401_invalid_token_refreshes_once_and_resends(connect: Any, session: Any) -> None:
    old = session.token
    connect.expire_access_tokens()  # the server drops the token before its announced expiry
    response = session.get(ACCOUNTS)
    assert response.status == 200
    assert connect.refresh_calls == 1
    assert session.token.access_token != old.access_token
    assert connect.count("GET", ACCOUNTS) == 3
    assert connect.rejections["INVALID_TOKEN"] == 1


def test_401_in_the_rfc_6750_dialect_also_refreshes_once(connect: Any, session: Any) -> None:
    connect.error_dialect = "rfc6749"
    connect.expire_access_tokens()
    assert session.get(ACCOUNTS).status == 200
    assert connect.refresh_calls == 1
    assert connect.rejections["invalid_token"] == 1


def test_a_standard_rfc_6750_401_refreshes_once_whatever_its_description_says(
    connect: Any, session: Any
) -> None:
    # The standard description lists "revoked" among the possible reasons: the challenge's
    # error code, not a word in the prose, decides.
    old = session.token
    connect.api_answers = [rfc6750_invalid_token()]
    response = session.get(ACCOUNTS)
    assert response.status == 200
    assert connect.refresh_calls == 1
    assert connect.count("GET", ACCOUNTS) == 3  # the first call, the 401, one resend
    assert session.token.access_token != old.access_token


def test_revoked_authorization_stops_at_once(connect: Any, session: Any) -> None:
    connect.revoke_user(session.token.identity)
    with pytest.raises(AuthenticationError) as info:
        session.get(ACCOUNTS)
    assert info.value.code == "TOKEN_REVOKED"
    assert connect.refresh_calls == 0
    assert connect.count("GET", ACCOUNTS) == 2


def test_refresh_token_expiry_asks_to_authorize_again(
    connect: Any, session: Any, manual_clock: Any, make_session: Any
) -> None:
    manual_clock.advance(days=15, seconds=1)
    with pytest.raises(LoginRequiredError) as info:
        session.get(ACCOUNTS)
    error = info.value
    assert isinstance(error, AuthorizationRequired)
    assert "authorize again" in str(error)
    assert error.login_url is not None
    assert error.login_url.startswith(connect.login_url + "?")
    params = parse_qs(urlsplit(error.login_url).query)
    assert params["client_id"] == [connect.client_id]
    assert connect.refresh_calls == 0  # known expired: the server was not bothered
    copy = pickle.loads(pickle.dumps(error))  # it can cross to another process
    assert (copy.login_url, copy.pending, str(copy)) == (error.login_url, error.pending,
                                                         str(error))
    # A loopback profile logs in again from a session.  (On a fresh port: the core's
    # listener cannot rebind a port whose last callback connection is in TIME_WAIT.)
    connect.redirect_uri = f"http://127.0.0.1:{free_loopback_port()}/callback"
    again = make_session()
    assert again.login() is not None
    assert again.get(ACCOUNTS).ok
    assert session.get(ACCOUNTS).ok  # the same identity's other session adopts the token


def test_server_side_refresh_expiry_is_also_authorize_again(
    connect: Any, session: Any, manual_clock: Any
) -> None:
    # A token whose refresh expiry we do not know: only the server can tell.
    token = session.token
    session.binding.save(token.replace(refresh_expires_at=None))
    session.tokens.forget()
    manual_clock.advance(days=15, seconds=1)
    with pytest.raises(AuthorizationRequired) as info:
        session.get(ACCOUNTS)
    assert "expired" in str(info.value)
    assert info.value.login_url is not None
    assert connect.rejections["token.refresh.token.expired"] == 1


def test_authorize_again_on_a_platform_finishes_with_the_errors_pending_login(
    connect: Any, make_session: Any, plugin_host: Any, manual_clock: Any
) -> None:
    connect.redirect_uri = PLATFORM_REDIRECT
    session = make_session(interaction=LogInteraction())
    with pytest.raises(AuthorizationRequired) as first:
        session.get(ACCOUNTS)
    complete(first.value.pending, approve(first.value.login_url),
             profile=session.binding.resolved.profile, host=plugin_host, clock=connect.clock)
    assert session.get(ACCOUNTS).ok
    manual_clock.advance(days=15, seconds=1)
    with pytest.raises(AuthorizationRequired) as again:
        session.get(ACCOUNTS)
    assert "complete(" in str(again.value)
    complete(again.value.pending, approve(again.value.login_url), profile=session,
             clock=connect.clock)
    assert session.get(ACCOUNTS).ok
