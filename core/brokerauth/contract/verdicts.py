"""How an answer is judged: fine, token invalid, clock off, or a broker error.

Plugins return a :class:`Verdict` from ``interpret_response`` for answers in their broker's own
dialect; :func:`default_verdict` covers RFC 6750 and RFC 6749 style answers.
"""

from __future__ import annotations

import enum
import re
from typing import Final

import attrs

from brokerauth.contract.errors import BrokerError

# Where a plugin's interpret_response finds it: the masking lives with the rest of it.
from brokerauth.contract.scrub import error_fields
from brokerauth.contract.wire import Response

__all__ = ["OK", "Outcome", "Verdict", "bearer_error", "default_error", "default_verdict",
           "error_fields"]


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
    #: What the person should do about this answer, in the broker's terms (a refused
    #: signature: "check app_key, app_secret..."); the command line shows it as ``fix:``.
    hint: str | None = None


OK = Verdict(Outcome.OK)


def default_verdict(response: Response) -> Verdict:
    if 200 <= response.status < 300:
        return OK
    code, message = error_fields(response)
    if response.status == 401:
        challenge = bearer_error(response.headers.get("WWW-Authenticate") or "")
        if challenge == "invalid_token" or code in ("invalid_token", "token_expired"):
            return Verdict(Outcome.TOKEN_INVALID, code or "invalid_token", message)
    return Verdict(Outcome.ERROR, code, message)


# An auth-param (RFC 9110 §11.2): a token, "=", then a token or a quoted string.  Matching
# them left to right consumes each quoted value whole, so text inside a description is never
# taken for a parameter of its own.
_AUTH_PARAM: Final = re.compile(
    r'([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)'
)
_BEARER: Final = re.compile(r"(?:^|[\s,])bearer(?:\s|$)", re.IGNORECASE)


def bearer_error(challenge: str) -> str | None:
    """The ``error`` parameter of a ``Bearer`` challenge in ``WWW-Authenticate`` (RFC 6750
    §3), if any: the code meant for programs, read before any word of a description, which
    is prose (the standard one for ``invalid_token`` lists "revoked" among its reasons)."""
    if not _BEARER.search(challenge):
        return None
    for match in _AUTH_PARAM.finditer(challenge):
        if match.group(1).lower() == "error":
            value = match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            return value
    return None


def default_error(response: Response, verdict: Verdict | None = None) -> BrokerError:
    verdict = verdict or default_verdict(response)
    return response.error(verdict.code, verdict.message)
