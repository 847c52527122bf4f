"""Webull Connect's error answers, in one place for the plugin and its sandbox.

Webull answers errors as ``{"error_code": ..., "message": ...}`` with HTTP 401, 417 (a
business error) or 500 — not RFC 6749's ``{"error": ...}``; both dialects are accepted, and
the flow reads refusals with the core's :class:`brokerauth.toolkit.oauth.TokenErrorDialect`
made of the fields and codes below (the core knows only RFC 6749's).
Only ``token.auth.code.error`` (a bad or expired authorization code) is named in Webull's
public docs.  The other ``token.*`` codes follow its naming and are this project's choice;
the API's token codes follow the ``webull`` plugin's table.
"""

from __future__ import annotations

from typing import Final

from brokerauth_webull.codes import CLOCK_SKEW_CODES as WEBULL_CLOCK_SKEW_CODES
from brokerauth_webull.codes import WebullError

__all__ = ["WebullError"]

#: Where a refusal's code and message are: Webull's fields, else RFC 6749's.
CODE_FIELDS: Final = ("error_code", "error")
MESSAGE_FIELDS: Final = ("message", "error_description")

#: The authorization code is unknown, expired (60 s) or already used.
AUTH_CODE_ERROR: Final = "token.auth.code.error"
#: The refresh token is unknown, revoked, or a rotated one presented again.
REFRESH_TOKEN_ERROR: Final = "token.refresh.token.error"
#: The refresh token is past its 15 days: the user must authorize again.
REFRESH_TOKEN_EXPIRED: Final = "token.refresh.token.expired"
#: client_id / client_secret (or the app key they belong with) not recognised.
CLIENT_ERROR: Final = "token.client.error"
#: grant_type is neither authorization_code nor refresh_token, or a field is missing.
PARAMETER_ERROR: Final = "token.parameter.error"
#: redirect_uri sent with the code does not match the one the code was issued for.
REDIRECT_URI_ERROR: Final = "token.redirect.uri.error"

#: A grant the user must replace by logging in again (both dialects).
CODE_DEAD: Final = frozenset({AUTH_CODE_ERROR, "invalid_grant"})
REFRESH_DEAD: Final = frozenset({REFRESH_TOKEN_ERROR, REFRESH_TOKEN_EXPIRED, "invalid_grant"})
#: The client itself was refused: a configuration problem, not the user's.
CLIENT_REFUSED: Final = frozenset({CLIENT_ERROR, "invalid_client", "unauthorized_client"})

#: On an API call: the access token is unknown or expired; refresh once and resend.
TOKEN_INVALID_CODES: Final = frozenset({
    "INVALID_TOKEN", "TOKEN_INVALID", "TOKEN_EXPIRED", "ACCESS_TOKEN_INVALID",
    "ACCESS_TOKEN_EXPIRED", "invalid_token", "token.access.token.error",
    "token.access.token.expired",
})
#: On an API call: the user withdrew the authorization; refreshing cannot help.
REVOKED_CODES: Final = frozenset({
    "TOKEN_REVOKED", "AUTHORIZATION_REVOKED", "ACCESS_REVOKED", "token.revoked",
})
#: Words in a 401's message that mean the grant is gone for good.
REVOKED_WORDS: Final = ("revoked", "disabled")
#: The HMAC-signed token request's timestamp was refused: learn the offset, resend once.
CLOCK_SKEW_CODES: Final = WEBULL_CLOCK_SKEW_CODES

INVALID_TOKEN: Final = WebullError(
    401, "INVALID_TOKEN", "The access token is invalid or has expired."
)
TOKEN_REVOKED: Final = WebullError(
    401, "TOKEN_REVOKED", "The user revoked this platform's authorization."
)
