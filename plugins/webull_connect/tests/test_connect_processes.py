"""One user's expired token shared by 4 processes x 8 threads: exactly one refresh, and the
rotating server never sees a rotated refresh token again (the family stays valid)."""

from __future__ import annotations

from typing import Any

import brokerauth
from brokerauth.contract.clock import SystemClock
from brokerauth_sandbox.fleet import run_fleet
from brokerauth_webull_connect import begin_login, complete
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, profile_for


def status_and_account(response: Any) -> str:
    """Which user's token answered: the sandbox names the account after the identity."""
    return f"{response.status} {response.json()[0]['account_id']}"


def test_4_processes_x_8_threads_share_one_refresh(sandbox_factory: Any,
                                                   token_home: Any) -> None:
    sandbox = sandbox_factory("webull_connect", clock=SystemClock())
    sandbox.redirect_uri = PLATFORM_REDIRECT
    sandbox.auto_approve = True
    sandbox.next_user = "ID-FLEET"
    sandbox.refresh_delay = 0.1  # keep the refresh in flight while the others queue
    profile = profile_for(sandbox, "fleet")
    pending = begin_login(profile)
    token = complete(pending, approve(pending.url), profile=profile)
    assert token.identity == "ID-FLEET"

    first = brokerauth.session(profile, user="ID-FLEET")
    assert first.get(ACCOUNTS).ok
    # Expire it for every process: in the store and on the server.
    first.binding.save(token.replace(expires_at=token.issued_at))
    sandbox.expire_access_tokens()
    first.close()

    outcomes = run_fleet(profile, path=ACCOUNTS, processes=4, threads=8, user="ID-FLEET",
                         env={"BROKERAUTH_HOME": str(token_home)}, describe=status_and_account)
    assert outcomes == ["200 ID-FLEET-1"] * 32
    assert sandbox.refresh_calls == 1
    assert sandbox.invalid_grants == 0
    stored = brokerauth.session(profile, user="ID-FLEET").binding.load()
    assert stored.access_token != token.access_token
    assert sandbox.family_valid(stored.refresh_token)
    assert sandbox.refresh_token_usable(stored.refresh_token)
