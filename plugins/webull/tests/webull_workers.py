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
    from brokerauth.clock import ManualClock

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
