"""OAuth 2.0 building blocks shared by broker plugins (RFC 6749, 7636, 8252, 9700).

Nothing here knows a broker: state and PKCE values, the authorization URL, reading the
redirect back, and turning a token endpoint's answer into a
:class:`~brokerauth.contract.tokens.Token` or a typed error.  The loopback listener for desktop
    logins is in :mod:`brokerauth.toolkit.loopback`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from brokerauth.contract.errors import (
    BrokerAuthError,
    BrokerError,
    LoginRequiredError,
    ResponseError,
)
from brokerauth.contract.scrub import MAX_CODE, error_fields, scrub
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Response
from brokerauth.toolkit.numbers import lifetime

__all__ = [
    "DEFAULT_LIFETIME", "RFC6749", "AuthorizationError", "ForgedCallbackError", "Pkce",
    "TokenErrorDialect", "authorization_url", "lifetime", "new_state", "parse_callback",
    "parse_token_answer", "s256", "states_match", "token_body", "token_error",
]

#: The lifetime assumed when a token answer gives no ``expires_in`` (RFC 6749 §5.1 makes it
#: only RECOMMENDED) and its plugin names none: an hour, so such a token is still refreshed
#: early instead of being kept until a request fails.  Plugins pass their broker's own.
DEFAULT_LIFETIME: Final = timedelta(hours=1)


class AuthorizationError(LoginRequiredError):
    """The authorization step failed: the user denied, the state did not match, the code was
    refused or expired. The user must start the login again."""


class ForgedCallbackError(AuthorizationError):
    """A callback without this login's ``state`` (missing or wrong): not an answer to this
    login, whatever else it carries, so a listener ignores it and keeps waiting."""


def new_state() -> str:
    """256 random bits, URL-safe (RFC 9700 asks for at least 128)."""
    return secrets.token_urlsafe(32)


def states_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so a callback cannot probe the state byte by byte."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


@attrs.frozen(repr=False)
class Pkce:
    """A PKCE pair; only S256 exists here (RFC 7636 ``plain`` is never offered)."""

    verifier: str = attrs.field(repr=False)
    challenge: str
    method: str = "S256"

    @classmethod
    def create(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)  # 86 characters, inside RFC 7636's 43..128
        return cls(verifier, s256(verifier))

    def __repr__(self) -> str:
        return "Pkce(method='S256')"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(endpoint: str, params: Mapping[str, str]) -> str:
    separator = "&" if urlsplit(endpoint).query else "?"
    return endpoint + separator + urlencode(list(params.items()))


def parse_callback(callback: str, *, expected_state: str) -> str:
    """The authorization code from a redirect (a full URL, or its query string).

    The state is checked first, whatever else the callback says (RFC 6749 §4.1.2.1 sends
    ``error=`` with the request's ``state``): any web page can aim the user's browser at a
    loopback redirect URI, so an ``error=access_denied`` without this login's state must not
    end the login.

    :raises ForgedCallbackError: the state is missing or wrong (an error in the callback or
        not).
    :raises AuthorizationError: with the right state, the server says the authorization
        failed (its ``error``, masked and cut), or there is no code.
    """
    query = urlsplit(callback).query if "://" in callback else callback.lstrip("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if not states_match(expected_state, params.get("state")):
        raise ForgedCallbackError(
            "the callback's state does not match this login (a forged or stale redirect)",
            hint="start the login again from the URL this program printed",
        )
    if "error" in params:
        # Even with the right state these are text from outside (the browser's URL bar):
        # they reach the terminal only masked, on one line, cut.
        hidden = (expected_state, params.get("code") or "")
        error = scrub(params["error"], hidden, limit=MAX_CODE) or "unknown error"
        description = scrub(params.get("error_description", ""), hidden)
        raise AuthorizationError(
            f"authorization failed: {error}" + (f" ({description})" if description else ""),
            hint="start the login again; if you denied access by mistake, approve it this time",
        )
    code = params.get("code")
    if not code:
        raise AuthorizationError("the callback carries no authorization code",
                                 hint="start the login again")
    return code


def parse_token_answer(
    body: Mapping[str, Any],
    *,
    broker: str,
    now: datetime,
    status: int,
    previous: Token | None = None,
    identity: str | None = None,
    issued_at: datetime | None = None,
    refresh_lifetime_field: str | None = None,
    extra: Mapping[str, str] | None = None,
    default_lifetime: timedelta = DEFAULT_LIFETIME,
) -> Token:
    """A token from an RFC 6749 §5.1 answer, validated field by field.

    ``expires_in`` counts from ``issued_at`` (the server's ``created_at`` when it sends one)
    or else from ``now``; it is a whole number of seconds from 1 to 315,360,000 (10 years),
    a JSON integer or a string of ASCII digits (:func:`brokerauth.toolkit.numbers.lifetime`).  A
    missing (or null) ``expires_in`` means ``default_lifetime`` (:data:`DEFAULT_LIFETIME`, an
    hour, unless the plugin names its broker's): never a token that never expires.  The
    refresh token's lifetime (``refresh_lifetime_field``) follows the same rule, except that
    0 is allowed (the refresh token cannot be used again); missing, it is unknown.  A missing
    refresh token keeps ``previous``'s (a server that does not rotate).  A token that would
    already be expired on arrival is refused.  Nothing in an error message comes from the
    answer's values.
    """
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ResponseError("token answer has no access_token", status=status)
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ResponseError("token answer's token_type is not Bearer", status=status)
    start = issued_at or now
    given = body.get("expires_in")
    expires_at = start + (default_lifetime if given is None
                          else lifetime(given, "expires_in", status))
    if expires_at <= now:
        raise ResponseError(
            "token answer: the token expired before it arrived (its issue time plus "
            "expires_in is in the past)",
            status=status,
        )
    refresh = body.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise ResponseError("token answer's refresh_token is not a string", status=status)
    refresh_expires_at = None
    if refresh and refresh_lifetime_field and body.get(refresh_lifetime_field) is not None:
        # 0 is allowed: a server may count the refresh lifetime down across rotations, and an
        # answer whose refresh token is spent still carries a good access token.
        refresh_expires_at = start + lifetime(body[refresh_lifetime_field],
                                              refresh_lifetime_field, status, minimum=0)
    elif not refresh and previous is not None:
        refresh_expires_at = previous.refresh_expires_at
    scope = body.get("scope")
    return Token(
        access_token=access,
        broker=broker,
        expires_at=expires_at,
        refresh_token=refresh or (previous.refresh_token if previous else None),
        refresh_expires_at=refresh_expires_at,
        token_type="Bearer",
        scope=scope if isinstance(scope, str) else None,
        identity=identity,
        issued_at=start,
        extra=dict(extra or {}),
    )


@attrs.frozen
class TokenErrorDialect:
    """How a token endpoint words a refusal: the JSON fields its code and message are in
    (the first one present wins) and which codes say what.  :data:`RFC6749` has RFC 6749
    §5.2's codes; a plugin whose broker answers otherwise passes its own to
    :func:`token_error`."""

    # RFC 6749's fields first, then the names JSON APIs commonly use instead: whatever a
    # server's convention, its (masked) words reach the user rather than a bare status.
    code_fields: tuple[str, ...] = ("error", "error_code", "code")
    message_fields: tuple[str, ...] = ("error_description", "message", "msg")
    #: The grant itself is dead (a code used or expired, a refresh token revoked): only a new
    #: login helps.
    dead_grant: frozenset[str] = frozenset({"invalid_grant"})
    #: The client was not authenticated: a configuration problem, not the user's login.
    invalid_client: frozenset[str] = frozenset({"invalid_client"})

    def fields(self, response: Response) -> tuple[str | None, str | None]:
        """``(code, message)`` of an error answer in this dialect (see
        :func:`brokerauth.contract.scrub.error_fields`, which masks them)."""
        return error_fields(response, self.code_fields, self.message_fields)


#: RFC 6749 §5.2's codes (``invalid_grant``, ``invalid_client``), read from its fields or the
#: common ones.
RFC6749: Final = TokenErrorDialect()


def token_error(
    response: Response, *, what: str, login_url: str | None = None,
    login_command: str | None = None,
    dialect: TokenErrorDialect = RFC6749,
) -> BrokerAuthError:
    """A typed error for a refused token request, read in ``dialect``: an
    :class:`AuthorizationError` when the grant is dead, a :class:`BrokerError` otherwise (with a
    hint to check the client credentials when the client was refused).  ``login_command``
    (a flow passes its context's) is named in the hint of a dead grant."""
    code, message = dialect.fields(response)
    login_hint = f"run `{login_command}`" if login_command else "log in again"
    if code in dialect.dead_grant:
        return AuthorizationError(
            f"{what} was refused: {message or code}", login_url=login_url, hint=login_hint
        )
    # RFC 6749 §5.2 lets invalid_client come as a bare 401 (with a WWW-Authenticate challenge).
    if code in dialect.invalid_client or (response.status == 401 and code is None):
        return BrokerError(
            message or f"{what}: client authentication failed",
            status=response.status, code=code,
            hint="check the profile's client credentials (its client id and secret)",
        )
    return BrokerError(message or f"{what} failed", status=response.status, code=code)


def token_body(response: Response, *, what: str) -> dict[str, Any]:
    """The JSON object of a successful token answer, parsed strictly (no key given twice, no
    NaN, at most :data:`brokerauth.contract.jsontext.MAX_DEPTH` deep); anything else is a
    ResponseError."""
    body = response.json_object(strict=True)
    if not body:
        raise ResponseError(f"{what}: the answer is an empty object", status=response.status)
    return body
