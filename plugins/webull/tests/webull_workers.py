"""Code the multi-process tests run in a child process (imported by name after spawn)."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from typing import Any


class _NobodyThere:
    """The child has no person: a flow that wants one fails loudly."""

    def say(self, message: str) -> None:
        raise AssertionError("the second process must not need the user")

    def open_url(self, url: str) -> None:
        raise AssertionError("the second process must not need the user")

    def waiting(self, message: str, *, deadline: datetime | None = None) -> Any:
        raise AssertionError("the second process must not need the user")


def call_accounts(profile: Any, home: str, now: str, results: Any) -> None:
    """Open a session on ``profile`` with the token store under ``home`` and a clock stopped at
    ``now`` (the parent's manual clock), call the account list, and report the status and a
    digest of the token used (never the token itself)."""
    os.environ["BROKERAUTH_HOME"] = home
    import brokerauth
    from brokerauth_sandbox.clock import ManualClock

    try:
        with brokerauth.session(
            profile, clock=ManualClock(datetime.fromisoformat(now)), interaction=_NobodyThere()
        ) as session:
            status = session.get("/openapi/account/list").status
            token = session.tokens.peek()
        digest = hashlib.sha256(token.access_token.encode()).hexdigest() if token else None
        results.put((status, digest))
    except BaseException as exc:
        results.put((f"{type(exc).__name__}: {exc}", None))


def log_in_repeatedly(profile: Any, home: str, times: int, results: Any) -> None:
    """Log ``profile`` in ``times`` times (each a token request), reporting each outcome:
    ``"ok"``, or the error's name and its retry_after."""
    os.environ["BROKERAUTH_HOME"] = home
    import brokerauth
    from brokerauth.contract.errors import RateLimitError

    outcomes: list[str] = []
    with brokerauth.session(profile, interactive=False) as session:
        for _ in range(times):
            try:
                session.login()
                outcomes.append("ok")
            except RateLimitError as exc:
                outcomes.append(f"RateLimitError {exc.retry_after:.1f}")
            except BaseException as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")
    results.put(outcomes)
