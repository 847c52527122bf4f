"""Webull allows 10 token requests per 30 s per app key: the core never sends more, however
many processes share the token store (QUALITY item 24)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brokerauth
from brokerauth.contract.clock import SystemClock
from brokerauth.engine.profiles import Profile
from brokerauth_webull.sandbox.server import WebullSandbox

CREATE = "/auth/tokens/create"


def _profile(sandbox: WebullSandbox, **keys: Any) -> Profile:
    return Profile.from_mapping("wb", {"broker": "webull", **sandbox.profile_settings(),
                                       "two_factor": "on", **keys})


def test_25_logins_are_paced_to_10_per_30_seconds(
    make_sandbox: Callable[..., WebullSandbox], token_home: Path, plugin_host: Any
) -> None:
    sandbox = make_sandbox(two_factor_required=True, auto_verify=True)
    session = brokerauth.session(_profile(sandbox), clock=sandbox.clock, host=plugin_host)
    start = sandbox.clock.now()
    moments = []
    for _ in range(25):
        session.login()  # one create each; the manual clock moves only when the core waits
        moments.append((sandbox.clock.now() - start).total_seconds())
    assert sandbox.count("POST", CREATE) == 25
    assert sandbox.rejections["TOO_MANY_REQUESTS"] == 0  # the sandbox never had to refuse one
    for index, at in enumerate(moments):
        assert sum(1 for other in moments if at - 30 < other <= at) <= 10, (index, moments)
    assert moments[-1] >= 60


def test_4_processes_never_exceed_the_limit(
    make_sandbox: Callable[..., WebullSandbox], token_home: Path
) -> None:
    sandbox = make_sandbox(two_factor_required=True, auto_verify=True)
    sandbox.clock = SystemClock()
    # lock_timeout bounds how long a caller waits for its turn: past it, a RateLimitError.
    profile = _profile(sandbox, lock_timeout=1)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    from webull_workers import log_in_repeatedly

    children = [context.Process(target=log_in_repeatedly,
                                args=(profile, str(token_home), 5, results))
                for _ in range(4)]
    for child in children:
        child.start()
    outcomes = [o for _ in children for o in results.get(timeout=120)]
    for child in children:
        child.join(timeout=30)
    assert len(outcomes) == 20
    assert outcomes.count("ok") == 10, outcomes
    limited = [o for o in outcomes if o.startswith("RateLimitError")]
    assert len(limited) == 10, outcomes
    assert all(0 < float(o.split()[1]) <= 30 for o in limited)
    assert sandbox.count("POST", CREATE) == 10
    assert sandbox.rejections["TOO_MANY_REQUESTS"] == 0
