"""The ``futu-api-key`` flow: Futu's legacy credentials.

The token is the access token from Futu's developer portal, configured in the profile (by
default ``FUTU_ACCESS_TOKEN``).  It has no known expiry until it is refreshed:
``GET /v1/token/refresh?expired_at=<RFC 3339>`` (signed like every request, with the current
token) returns a new one, which replaces the stored token; from then on the store's token is
used, and the session refreshes it again before its expiry like any other token.

Where that token is kept: in the profile's store (by default the ``futu-file`` store, in the
core's format under ``<token folder>/.brokerauth/``, since the SDK has no file for these).
While a refreshed token is stored it wins over the configured one, which is probably the one
it replaced; ``brokerauth logout`` (or :func:`brokerauth_futu.logout`) drops it, and the
configured token is used again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from brokerauth.contract.commands import for_key
from brokerauth.contract.errors import (
    AuthenticationError,
    BrokerError,
    ConfigError,
    LoginRequiredError,
    ResponseError,
)
from brokerauth.contract.flowcontext import FlowContext, HttpClient
from brokerauth.contract.scrub import MAX_CODE, response_secrets, scrub
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.contract.verdicts import error_fields
from brokerauth.toolkit.numbers import time_in_range
from brokerauth.toolkit.secrets import Secret

from brokerauth_futu import codes, sdkformat

REFRESH_PATH: Final = "/v1/token/refresh"
#: Futu's default lifetime of a refreshed legacy token.
DEFAULT_VALIDITY: Final = timedelta(days=90)
_MODE: Final = "api_key"


def api_key_token(access_token: str, *, identity: str | None,
                  expires_at: datetime | None = None, issued_at: datetime | None = None) -> Token:
    return Token(
        access_token=access_token,
        broker=sdkformat.BROKER,
        expires_at=expires_at,
        identity=identity,
        issued_at=issued_at,
        extra={sdkformat.EXTRA_MODE: _MODE},
    )


def acquire(context: FlowContext) -> Token:
    configured = getattr(context.settings, "access_token", None)
    if not isinstance(configured, Secret):
        raise ConfigError(
            f"profile {context.profile!r}: the futu-api-key flow needs access_token",
            hint='set mode = "api_key" and access_token = { env = "FUTU_ACCESS_TOKEN" }',
        )
    return api_key_token(configured.reveal(), identity=context.identity)


def refresh(context: FlowContext, token: Token) -> Token:
    if token.extra.get(sdkformat.EXTRA_MODE) != _MODE:
        raise LoginRequiredError(
            f"{context.profile}: the stored token is an OAuth login, not an API-key token",
            hint=f"run `{for_key('logout', TokenKey(context.profile, context.identity))}`",
        )
    configured = getattr(context.settings, "access_token", None)
    new = refresh_access_token(
        context.http, token, context.clock.now() + DEFAULT_VALIDITY, identity=context.identity,
        path=getattr(context.settings, "access_token_refresh_path", REFRESH_PATH),
        now=context.clock.now(), configured=configured,
    )
    if token.access_token == (configured.reveal() if isinstance(configured, Secret) else None):
        # The first refresh of the configured token: from now on the store's token is the
        # one used, and the configured one may be refused; a logout would bring it back.
        context.interaction.say(
            f"{context.profile}: the access token was refreshed and is kept in the token "
            f"store, and used from now on; Futu may no longer accept the one in "
            f"{_where(configured)}, which `brokerauth logout` would leave as the only one")
    return new


def rfc3339(when: datetime) -> str:
    """``when`` in UTC with second precision; a naive time is taken as local time, as the
    SDK's users write ``datetime.now() + timedelta(...)``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def refresh_access_token(
    http: HttpClient, token: Token, expired_at: datetime, *, identity: str | None,
    path: str = REFRESH_PATH, now: datetime | None = None, configured: Secret | None = None,
) -> Token:
    """Ask Futu for a new legacy access token valid until ``expired_at``.

    ``now`` becomes the token's issue time, so a session that loads it later still refreshes
    it inside the usual window before expiry rather than one shrunk to what is left.
    ``configured`` is the profile's ``access_token``: a refusal's hint names where it is.

    :raises ~brokerauth.contract.errors.AuthenticationError: the credential was revoked or the token
        is no longer valid; a new one must come from the developer portal.
    :raises ~brokerauth.contract.errors.BrokerError: any other refusal; the stored token is kept.
    """
    until = expired_at.astimezone(UTC).replace(microsecond=0)
    response = http.request("GET", path, params={"expired_at": rfc3339(until)}, token=token)
    if not response.ok:
        raise _refusal(response, configured)
    body = response.json_object(strict=True)
    data = body.get("data", body)
    code = body.get("code")
    if code not in (None, 0, "0") or not isinstance(data, dict):
        # A refusal inside a 200: its text is the server's, like any error body's.
        sent = response_secrets(response)
        raise BrokerError(
            scrub(body.get("message"), sent) or "Futu refused to refresh the access token",
            status=response.status,
            code=scrub(code, sent, limit=MAX_CODE),
        )
    new = data.get("token")
    if not isinstance(new, str) or not new:
        raise ResponseError("Futu's token refresh answer holds no token", status=response.status)
    expires_at = _expiry(data.get("expired_at"), until, response.status)
    if now is not None and expires_at <= now:
        raise ResponseError(
            "Futu's token refresh answer: expired_at is in the past; nothing was stored",
            status=response.status,
        )
    return api_key_token(new, identity=identity, expires_at=expires_at, issued_at=now)


def _expiry(given: Any, requested: datetime, status: int) -> datetime:
    """The server's own word on the expiry (an RFC 3339 time between 2000 and 2100, see
    :mod:`brokerauth.toolkit.numbers`) when it gives one; ``requested`` when it gives none.

    :raises ~brokerauth.contract.errors.ResponseError: an ``expired_at`` that is not such a time (a
        number, a date without an offset, year 9999): the server said something about the
        expiry, and guessing what would store a token whose life nobody knows.
    """
    if given is None:
        return requested
    what = "Futu's token refresh answer"
    if not isinstance(given, str):
        raise ResponseError(f"{what}: expired_at is not an RFC 3339 time", status=status)
    try:
        parsed = datetime.fromisoformat(given.replace("Z", "+00:00"))
    except ValueError:
        raise ResponseError(f"{what}: expired_at is not an RFC 3339 time",
                            status=status) from None
    return time_in_range(parsed, "expired_at", status, what=what)


def _where(configured: Any) -> str:
    """Where the profile's access token comes from, as a person would look for it (never
    its value)."""
    if isinstance(configured, Secret) and configured.env is not None:
        return f"${configured.env}"
    if isinstance(configured, Secret) and configured.file is not None:
        return f"the file {configured.file}"
    return "the profile's access_token"


def _refusal(response: Any, configured: Secret | None = None) -> BrokerError:
    code, message = error_fields(response)
    if code in codes.REVOKED_CODES or code in codes.TOKEN_INVALID_CODES:
        return AuthenticationError(
            message or "Futu refused the access token",
            status=response.status,
            code=code,
            hint="create new credentials in Futu's developer portal (User Center), then "
            f"update {_where(configured)}",
        )
    return BrokerError(message or "Futu refused to refresh the access token",
                       status=response.status, code=code)
