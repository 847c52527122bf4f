"""How an answer is judged: fine, token invalid, clock off, or a broker error.

Plugins return a :class:`Verdict` from ``interpret_response`` for answers in their broker's own
dialect; :func:`default_verdict` covers RFC 6750 and RFC 6749 style answers.
"""

from __future__ import annotations

import enum

import attrs

from brokerauth.contract.errors import BrokerError

# Where a plugin's interpret_response finds it: the masking lives with the rest of it.
from brokerauth.contract.scrub import error_fields
from brokerauth.contract.wire import Response

__all__ = ["OK", "Outcome", "Verdict", "default_error", "default_verdict", "error_fields"]


class Outcome(enum.Enum):
    OK = "ok"
    #: The access token is expired or unknown: refresh once and resend.
    TOKEN_INVALID = "token_invalid"
    #: The request's timestamp was outside the server's window: learn the offset, resend once.
    CLOCK_SKEW = "clock_skew"
    #: The credential was revoked: no refresh, no retry, the user must act.
    REVOKED = "revoked"
    #: Any other error answer.
    ERROR = "error"


@attrs.frozen
class Verdict:
    outcome: Outcome
    code: str | None = None
    message: str | None = None


OK = Verdict(Outcome.OK)


def default_verdict(response: Response) -> Verdict:
    if 200 <= response.status < 300:
        return OK
    code, message = error_fields(response)
    if response.status == 401:
        challenge = response.headers.get("WWW-Authenticate", "") or ""
        if "invalid_token" in challenge or code in ("invalid_token", "token_expired"):
            return Verdict(Outcome.TOKEN_INVALID, code or "invalid_token", message)
    return Verdict(Outcome.ERROR, code, message)


def default_error(response: Response, verdict: Verdict | None = None) -> BrokerError:
    verdict = verdict or default_verdict(response)
    return response.error(verdict.code, verdict.message)
