"""Many users on one platform: tokens are filed per Webull user and never mix."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.errors import RefreshError, ResponseError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.oauth import AuthorizationError
from brokerauth_sandbox.server import SandboxResponse
from brokerauth_webull_connect import begin_login, complete
from brokerauth_webull_connect.sandbox.server import free_loopback_port, webull_timestamp
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, profile_for


@pytest.fixture
def platform(connect: Any) -> Any:
    connect.redirect_uri = PLATFORM_REDIRECT
    return connect


def connect_user(sandbox: Any, identity: str, host: Any, *, user: str | None = None) -> Any:
    """One user of the platform goes through the whole login."""
    sandbox.next_user = identity
    profile = profile_for(sandbox)
    pending = begin_login(profile, host=host, clock=sandbox.clock)
    return complete(pending, approve(pending.url), user=user, profile=profile, host=host,
                    clock=sandbox.clock)


def test_two_users_tokens_never_mix(platform: Any, plugin_host: Any, make_session: Any,
                                    manual_clock: Any) -> None:
    alice = connect_user(platform, "ID-ALICE", plugin_host)
    bob = connect_user(platform, "ID-BOB", plugin_host)
    assert (alice.identity, bob.identity) == ("ID-ALICE", "ID-BOB")
    as_alice = make_session(user="ID-ALICE")
    as_bob = make_session(user="ID-BOB")
    for _ in range(2):
        assert as_alice.get(ACCOUNTS).json()[0]["account_id"] == "ID-ALICE-1"
        assert as_bob.get(ACCOUNTS).json()[0]["account_id"] == "ID-BOB-1"
    assert platform.api_identities == ["ID-ALICE", "ID-BOB"] * 2
    assert as_alice.binding.key == TokenKey("connect", "ID-ALICE")
    assert as_alice.token.access_token != as_bob.token.access_token

    # Each refreshes its own family; neither touches the other's.
    manual_clock.advance(1801)
    assert as_alice.get(ACCOUNTS).json()[0]["account_id"] == "ID-ALICE-1"
    assert platform.refresh_calls == 1
    assert as_bob.get(ACCOUNTS).json()[0]["account_id"] == "ID-BOB-1"
    assert platform.refresh_calls == 2
    assert platform.invalid_grants == 0
    assert as_alice.token.identity == "ID-ALICE"
    assert as_bob.token.identity == "ID-BOB"
    assert platform.api_identities[-2:] == ["ID-ALICE", "ID-BOB"]


def test_a_user_without_a_token_is_asked_to_authorize(platform: Any, plugin_host: Any,
                                                      make_session: Any) -> None:
    connect_user(platform, "ID-ALICE", plugin_host)
    from brokerauth_webull_connect import AuthorizationRequired

    with pytest.raises(AuthorizationRequired) as info:
        make_session(user="ID-CAROL").get(ACCOUNTS)
    assert info.value.pending.user == "ID-CAROL"
    assert platform.api_identities == []  # nobody else's token was sent


def test_a_platform_may_name_its_users_its_own_way(platform: Any, plugin_host: Any,
                                                   make_session: Any) -> None:
    token = connect_user(platform, "ID-ALICE", plugin_host, user="platform-user-42")
    assert token.identity == "ID-ALICE"
    session = make_session(user="platform-user-42")
    assert session.get(ACCOUNTS).json()[0]["account_id"] == "ID-ALICE-1"
    # Another Webull user cannot take over that name silently ...
    with pytest.raises(AuthorizationError, match="another Webull user"):
        connect_user(platform, "ID-MALLORY", plugin_host, user="platform-user-42")
    assert session.binding.load().identity == "ID-ALICE"
    # ... but after a logout the name can be linked to another account.
    assert session.logout()
    connect_user(platform, "ID-BOB", plugin_host, user="platform-user-42")
    assert session.get(ACCOUNTS).json()[0]["account_id"] == "ID-BOB-1"


def test_begin_login_with_a_session_files_the_token_under_its_identity(
    platform: Any, plugin_host: Any, make_session: Any
) -> None:
    session = make_session(user="ID-ALICE")
    pending = begin_login(session)
    assert pending.user == "ID-ALICE"
    platform.next_user = "ID-ALICE"
    complete(pending, approve(pending.url), profile=session)
    assert session.get(ACCOUNTS).json()[0]["account_id"] == "ID-ALICE-1"


def test_a_session_for_one_user_refuses_another_users_login(
    platform: Any, plugin_host: Any, make_session: Any
) -> None:
    session = make_session(user="ID-ALICE")
    pending = begin_login(session)
    platform.next_user = "ID-BOB"  # Bob signs in on the link meant for Alice
    with pytest.raises(AuthorizationError, match="not identity 'ID-ALICE'"):
        complete(pending, approve(pending.url), profile=session)
    assert session.binding.load() is None


def test_loopback_login_for_a_named_user_must_be_that_user(connect: Any,
                                                           make_session: Any) -> None:
    connect.next_user = "ID-BOB"
    session = make_session(user="ID-ALICE")
    with pytest.raises(AuthorizationError, match="not identity 'ID-ALICE'"):
        session.get(ACCOUNTS)
    assert session.binding.load() is None
    assert connect.api_identities == []

    connect.redirect_uri = f"http://127.0.0.1:{free_loopback_port()}/callback"
    connect.next_user = "ID-ALICE"
    right = make_session(user="ID-ALICE")
    assert right.get(ACCOUNTS).json()[0]["account_id"] == "ID-ALICE-1"


def test_default_desktop_identity_keeps_its_first_user(connect: Any, make_session: Any) -> None:
    connect.next_user = "ID-ALICE"
    first = make_session()
    assert first.get(ACCOUNTS).ok
    connect.redirect_uri = f"http://127.0.0.1:{free_loopback_port()}/callback"
    connect.next_user = "ID-BOB"
    with pytest.raises(AuthorizationError, match="another Webull user"):
        make_session().login()
    assert first.binding.load().identity == "ID-ALICE"


def test_a_refresh_answer_for_another_user_is_not_stored(
    connect: Any, make_session: Any, manual_clock: Any
) -> None:
    session = make_session()
    assert session.get(ACCOUNTS).ok
    before = session.binding.load()
    manual_clock.advance(1801)
    connect.token_answers = [SandboxResponse.json({
        "access_token": "a" * 32, "token_type": "Bearer", "expires_in": "1800",
        "rt_expires_in": "1296000", "refresh_token": "r" * 32,
        "created_at": webull_timestamp(connect.server_now()), "identity_id": "ID-SOMEONE-ELSE",
    })]
    with pytest.raises(RefreshError, match="different Webull user") as info:
        session.get(ACCOUNTS)
    assert isinstance(info.value.__cause__, ResponseError)
    assert session.binding.load() == before
