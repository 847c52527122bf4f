"""A failed refresh, kept with the token it failed for, so every caller shares one outcome.

When a refresh fails, the token manager stores the token again with a record of the failure
(when, how many in a row, what kind, the error's message) in its ``extra``.  Every store keeps
``extra``, so every thread and every process sharing the store sees the record when it takes the
lock and re-reads the token, and adopts the outcome instead of asking the server again:

* a refresh token the broker refused (``LoginRequiredError``), or credentials it refused
  (``AuthenticationError``: revoked), is dead: nobody asks again until a login replaces the
  token, so a dead grant costs one call at the server, not one per caller, and every caller
  gets the same error and fix;
* any other failure (the server down, a malformed answer) may pass: the next try waits for a
  back-off that doubles with each failure in a row, from :data:`BACKOFF_START` to
  :data:`BACKOFF_CAP` seconds.

A successful refresh or login stores a token without the record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from brokerauth.contract.clock import utc_text
from brokerauth.contract.errors import (
    AuthenticationError,
    BrokerAuthError,
    LoginRequiredError,
    RefreshError,
    TokenError,
)
from brokerauth.contract.tokens import CORE_EXTRA_PREFIX, Token

KIND = CORE_EXTRA_PREFIX + "refresh_failure"
AT = CORE_EXTRA_PREFIX + "refresh_failed_at"
COUNT = CORE_EXTRA_PREFIX + "refresh_failures"
MESSAGE = CORE_EXTRA_PREFIX + "refresh_failure_message"
#: The failure's own fix (never a secret: hints are brokerauth's and its plugins' text).
HINT = CORE_EXTRA_PREFIX + "refresh_failure_hint"
KEYS = (KIND, AT, COUNT, MESSAGE, HINT)

#: The grant is dead: only a login helps.
DEAD = "dead_grant"
#: Anything else: try again after the back-off.
PASSING = "error"

BACKOFF_START = 2.0
BACKOFF_CAP = 300.0
_MAX_MESSAGE = 300


@attrs.frozen
class Failure:
    kind: str
    at: datetime
    count: int
    message: str
    hint: str | None = None

    def retry_at(self) -> datetime | None:
        """When the next try is allowed; ``None`` for a dead grant (only a login)."""
        if self.kind == DEAD:
            return None
        return self.at + timedelta(seconds=backoff(self.count))

    def allows_retry(self, now: datetime) -> bool:
        retry = self.retry_at()
        return retry is not None and now >= retry

    def error(self, label: str, login_command: str) -> TokenError:
        """The error every caller that shares this outcome gets; ``login_command`` is what a
        person runs to log in again."""
        if self.kind == DEAD:
            return LoginRequiredError(
                f"{label}: the broker refused the refresh ({self.message})",
                hint=self.hint or f"run `{login_command}`",
            )
        retry = self.retry_at()
        when = f"; next try after {retry:%H:%M:%S} UTC" if retry is not None else ""
        return RefreshError(
            f"{label}: refreshing the token failed {self.count} time"
            f"{'s' if self.count != 1 else ''} in a row ({self.message}){when}",
            hint="wait for the broker to recover; `brokerauth refresh` tries at once",
        )


def backoff(count: int) -> float:
    """Seconds to wait after ``count`` failures in a row."""
    return float(min(BACKOFF_START * 2 ** max(count - 1, 0), BACKOFF_CAP))


def failure_of(token: Token | None) -> Failure | None:
    """The failure recorded with ``token``, if any (a malformed record counts as none)."""
    if token is None or KIND not in token.extra:
        return None
    extra = token.extra
    try:
        at = datetime.fromisoformat(extra[AT])
        count = int(extra[COUNT])
    except (KeyError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return Failure(extra[KIND], at, max(count, 1), extra.get(MESSAGE, ""), extra.get(HINT))


def record(token: Token, exc: BrokerAuthError, now: datetime) -> Token:
    """``token`` with ``exc`` recorded as its latest refresh failure."""
    previous = failure_of(token)
    count = previous.count + 1 if previous is not None else 1
    # A refused refresh token, or credentials the broker refused (revoked): a person must act,
    # and every caller is told so, with the same exit code as the one that tried.
    kind = DEAD if isinstance(exc, LoginRequiredError | AuthenticationError) else PASSING
    extra = {k: v for k, v in token.extra.items() if k not in KEYS}
    extra.update({KIND: kind, AT: utc_text(now), COUNT: str(count),
                  MESSAGE: _cut(exc.message)})
    if exc.hint:
        extra[HINT] = _cut(exc.hint)
    return token.replace(extra=extra)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


def cleared(token: Token) -> Token:
    """``token`` without a failure record (what a successful refresh or login stores)."""
    if not any(key in token.extra for key in KEYS):
        return token
    return token.replace(extra={k: v for k, v in token.extra.items() if k not in KEYS})
