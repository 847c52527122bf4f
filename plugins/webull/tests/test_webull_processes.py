"""A second process with the same profile and file store reuses the verified token."""

from __future__ import annotations

import hashlib
import multiprocessing
import stat
from pathlib import Path

from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import SmsUser
from webull_workers import call_accounts

ACCOUNTS = "/openapi/account/list"


def test_second_process_reuses_the_token_without_creating_another(
    webull: WebullSandbox, token_home: Path, manual_clock: ManualClock
) -> None:
    import brokerauth

    profile = Profile.from_mapping(
        "shared", {"broker": "webull", "two_factor": "on", **webull.profile_settings()}
    )
    with brokerauth.session(
        profile, clock=manual_clock, interaction=SmsUser(webull, enter_at=2)
    ) as first:
        assert first.get(ACCOUNTS).ok
        token = first.tokens.peek()
    assert token is not None
    stored = token_home / "tokens" / "shared" / "default.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert webull.count("POST", "/auth/tokens/create") == 1
    checks = webull.count("POST", "/auth/tokens/check")

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(
        target=call_accounts,
        args=(profile, str(token_home), manual_clock.now().isoformat(), results),
    )
    child.start()
    status, digest = results.get(timeout=60)
    child.join(timeout=30)

    assert status == 200
    assert digest == hashlib.sha256(token.access_token.encode()).hexdigest()
    assert webull.tokens_created == 1
    assert webull.count("POST", "/auth/tokens/create") == 1
    assert webull.count("POST", "/auth/tokens/check") == checks
    assert webull.count("GET", ACCOUNTS) == 2
