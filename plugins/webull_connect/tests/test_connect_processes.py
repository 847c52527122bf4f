"""One user's expired token shared by 4 processes x 8 threads: exactly one refresh, and the
rotating server never sees a rotated refresh token again (the family stays valid)."""

from __future__ import annotations

import multiprocessing
from typing import Any

import brokerauth
from brokerauth.clock import SystemClock
from brokerauth_webull_connect import begin_login, complete
from connect_helpers import ACCOUNTS, PLATFORM_REDIRECT, approve, profile_for


def test_4_processes_x_8_threads_share_one_refresh(sandbox_factory: Any, token_home: Any,
                                                   tmp_path: Any) -> None:
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

    from connect_workers import hammer

    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go = tmp_path / "go"
    processes = [
        context.Process(target=hammer, args=(profile, "ID-FLEET", str(token_home), str(go), 8,
                                             ready, results))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=60)
    go.touch()
    outcomes = [o for _ in processes for o in results.get(timeout=60)]
    for process in processes:
        process.join(timeout=30)
    assert outcomes == ["200 ID-FLEET-1"] * 32
    assert sandbox.refresh_calls == 1
    assert sandbox.invalid_grants == 0
    stored = brokerauth.session(profile, user="ID-FLEET").binding.load()
    assert stored.access_token != token.access_token
    assert sandbox.family_valid(stored.refresh_token)
    assert sandbox.refresh_token_usable(stored.refresh_token)
