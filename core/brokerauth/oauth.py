"""OAuth 2.0 building blocks shared by broker plugins (RFC 6749, 7636, 8252, 9700).

Nothing here knows a broker: state and PKCE values, the authorization URL, reading the
redirect back, and turning a token endpoint's answer into a :class:`~brokerauth.tokens.Token`
or a typed error.  The loopback listener for desktop logins is in :mod:`brokerauth.loopback`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from brokerauth.errors import BrokerAuthError, BrokerError, LoginRequiredError, ResponseError
from brokerauth.scrub import MAX_CODE, scrub
from brokerauth.tokens import Token
from brokerauth.verdicts import error_fields
from brokerauth.wire import Response


class AuthorizationError(LoginRequiredError):
    """The authorization step failed: the user denied, the state did not match, the code was
    refused or expired. The user must start the login again."""


def new_state() -> str:
    """256 random bits, URL-safe (RFC 9700 asks for at least 128)."""
    return secrets.token_urlsafe(32)


def states_match(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so a callback cannot probe the state byte by byte."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


@attrs.frozen(repr=False)
class Pkce:
    """A PKCE pair; only S256 exists here (RFC 7636 ``plain`` is never offered)."""

    verifier: str
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

    :raises AuthorizationError: the user denied access, the state is missing or wrong, or
        there is no code.
    """
    query = urlsplit(callback).query if "://" in callback else callback.lstrip("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    if "error" in params:
        # Whoever can reach the redirect URI writes these (a web page can aim a browser at a
        # loopback listener): they reach the terminal only masked, on one line, cut.
        hidden = (expected_state, params.get("code") or "")
        error = scrub(params["error"], hidden, limit=MAX_CODE) or "unknown error"
        description = scrub(params.get("error_description", ""), hidden)
        raise AuthorizationError(
            f"authorization failed: {error}" + (f" ({description})" if description else ""),
            hint="start the login again; if you denied access by mistake, approve it this time",
        )
    if not states_match(expected_state, params.get("state")):
        raise AuthorizationError(
            "the callback's state does not match this login (a forged or stale redirect)",
            hint="start the login again from the URL this program printed",
        )
    code = params.get("code")
    if not code:
        raise AuthorizationError("the callback carries no authorization code",
                                 hint="start the login again")
    return code


def _number(value: Any, field: str, status: int) -> int:
    # Some brokers send every field as a string ("1800").
    if isinstance(value, bool):
        raise ResponseError(f"token answer: {field} is not a number", status=status)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ResponseError(f"token answer: {field} is not a number", status=status)


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
) -> Token:
    """A token from an RFC 6749 §5.1 answer, validated field by field.

    ``expires_in`` counts from ``issued_at`` (the server's ``created_at`` when it sends one)
    or else from ``now``.  A missing refresh token keeps ``previous``'s (a server that does not
    rotate).  Nothing in an error message comes from the answer's values.
    """
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ResponseError("token answer has no access_token", status=status)
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ResponseError("token answer's token_type is not Bearer", status=status)
    start = issued_at or now
    expires_at = None
    if body.get("expires_in") is not None:
        lifetime = _number(body["expires_in"], "expires_in", status)
        if lifetime <= 0:
            raise ResponseError("token answer's expires_in is not positive", status=status)
        expires_at = start + timedelta(seconds=lifetime)
    refresh = body.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise ResponseError("token answer's refresh_token is not a string", status=status)
    refresh_expires_at = None
    if refresh and refresh_lifetime_field and body.get(refresh_lifetime_field) is not None:
        refresh_life = _number(body[refresh_lifetime_field], refresh_lifetime_field, status)
        refresh_expires_at = start + timedelta(seconds=refresh_life)
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


#: RFC 6749 §5.2 codes (and Webull's) meaning the grant itself is dead: log in again.
DEAD_GRANT_CODES = frozenset({
    "invalid_grant", "token.auth.code.error", "token.refresh.token.error",
    "token.refresh.token.expired",
})


def token_error(
    response: Response, *, what: str, login_url: str | None = None, profile: str | None = None
) -> BrokerAuthError:
    """A typed error for a refused token request, in RFC 6749's dialect or Webull's
    (``{"error_code", "message"}``)."""
    code, message = error_fields(response)
    login_hint = f"run `brokerauth login {profile}`" if profile else "log in again"
    if code in DEAD_GRANT_CODES or (code and "expired" in code):
        return AuthorizationError(
            f"{what} was refused: {message or code}", login_url=login_url, hint=login_hint
        )
    if code == "invalid_client" or (response.status == 401 and code is None):
        return BrokerError(
            message or f"{what}: client authentication failed",
            status=response.status, code=code,
            hint="check client_id and client_secret (and app_key/app_secret) in the profile",
        )
    return BrokerError(message or f"{what} failed", status=response.status, code=code)


def token_body(response: Response, *, what: str) -> dict[str, Any]:
    """The JSON object of a successful token answer; anything else is a ResponseError."""
    body = response.json_object()
    if not body:
        raise ResponseError(f"{what}: the answer is an empty object", status=response.status)
    return body
