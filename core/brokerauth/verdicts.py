"""How an answer is judged: fine, token invalid, clock off, or a broker error.

Plugins return a :class:`Verdict` from ``interpret_response`` for answers in their broker's own
dialect; :func:`default_verdict` covers RFC 6750 and RFC 6749 style answers.
"""

from __future__ import annotations

import enum

import attrs

from brokerauth.errors import BrokerError
from brokerauth.wire import Response


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


def error_fields(response: Response) -> tuple[str | None, str | None]:
    """``(code, message)`` from a JSON error body in the common dialects, else ``(None, None)``.

    Both are fit to show (:mod:`brokerauth.scrub`): a server quoting the request it refuses
    gets every secret of that request masked, its control characters removed, its length cut.
    """
    try:
        body = response.json()
    except Exception:
        return None, None
    if not isinstance(body, dict):
        return None, None
    code = body.get("error_code", body.get("error", body.get("code")))
    message = body.get("message", body.get("error_description", body.get("msg")))
    if code is None and message is None:
        return None, None
    from brokerauth import scrub  # an error path: never paid by a request that succeeds

    secrets = scrub.response_secrets(response)
    return (scrub.scrub(code, secrets, limit=scrub.MAX_CODE),
            scrub.scrub(message, secrets))


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
    request = response.request
    message = verdict.message or f"{request.method} {request.path} failed"
    return BrokerError(message, status=response.status, code=verdict.code)
