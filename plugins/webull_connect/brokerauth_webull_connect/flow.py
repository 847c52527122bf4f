"""The ``webull-connect-oauth`` flow: authorization code, code exchange, rotating refresh.

Webull Connect is OAuth 2.0 for a confidential client:

* the login page gets ``response_type=code``, ``client_id``, ``scope``, ``state`` and the
  registered ``redirect_uri``; the code it redirects back with lives 60 s and works once;
* the token endpoint takes a form (or, per setting, JSON) body with ``client_id``,
  ``client_secret``, ``grant_type`` and ``code`` / ``refresh_token``, and Webull's HMAC
  signature headers: the request is signed without a token, which the ``webull-connect``
  signer answers with HMAC;
* answers are all strings (``"expires_in": "1800"``), the expiry counts from ``created_at``
  (``"2024-09-01T19:37:22.532+0000"``), and every refresh rotates the refresh token; after
  ``rt_expires_in`` (15 days) the user must authorize again;
* errors come as ``{"error_code", "message"}`` (HTTP 401, 417, 500) or RFC 6749's ``error``.

Tokens are filed per user: ``Token.identity`` is Webull's ``identity_id``, and a stored
identity never silently switches to another Webull user (:func:`admit_identity`).
"""

from __future__ import annotations

import base64
import email.utils
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote_plus

from brokerauth.contract.errors import (
    BrokerAuthError,
    BrokerError,
    ConfigError,
    LoginRequiredError,
    ResponseError,
)
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.interaction import Interaction, require_person
from brokerauth.contract.tokens import DEFAULT_IDENTITY, Token
from brokerauth.contract.wire import Response
from brokerauth.toolkit.loopback import LoopbackListener
from brokerauth.toolkit.numbers import EARLIEST, LATEST, epoch_time, time_in_range
from brokerauth.toolkit.oauth import (
    AuthorizationError,
    TokenErrorDialect,
    parse_token_answer,
    token_body,
)

from brokerauth_webull_connect import codes
from brokerauth_webull_connect.pending import PendingLogin, new_pending
from brokerauth_webull_connect.settings import ConnectSettings

log = logging.getLogger("brokerauth.webull_connect")

BROKER: Final = "webull_connect"
NAME: Final = "webull-connect-oauth"

#: What usually killed a refused code; beside the server's own reason, never instead of it
#: (a code sent to the wrong client or with the wrong verifier is refused the same way).
CODE_DEAD_HINT: Final = (
    "codes live 60 seconds and work once: start the login again and finish it within a minute"
)
_MAX_IDENTITY = 256
#: The access token's lifetime when an answer gives no ``expires_in``: Webull documents
#: ``"1800"`` (30 minutes), so a token is never assumed to live longer than that.
DEFAULT_LIFETIME: Final = timedelta(seconds=1800)
#: Refresh-token ends that move by less than this (clock rounding) have not slid.
_SLIDE: Final = timedelta(minutes=5)


class AuthorizationRequired(LoginRequiredError):
    """The user must authorize (again) in a browser.

    ``login_url`` is where to send them and ``pending`` the matching
    :class:`~brokerauth_webull_connect.pending.PendingLogin` to finish with
    :func:`~brokerauth_webull_connect.complete` once the redirect arrives.
    """

    def __init__(
        self, message: str, *, pending: PendingLogin, hint: str | None = None
    ) -> None:
        super().__init__(message, login_url=pending.url, hint=hint)
        self.pending = pending

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickling rebuilds an exception from ``args`` alone, and ``pending`` is keyword-only:
        # without this the error could not cross a process boundary (multiprocessing).
        return (_authorization_required, (self.message, self.pending), self.__dict__)


def _authorization_required(message: str, pending: PendingLogin) -> AuthorizationRequired:
    return AuthorizationRequired(message, pending=pending)


# -- the hooks' work -----------------------------------------------------------------------
def acquire(context: FlowContext) -> Token:
    """A first token: log in through the loopback listener when the redirect comes back to
    this machine; otherwise the platform's web server must finish the login."""
    settings = _settings(context)
    label = f"{context.profile}/{context.identity}"
    pending = new_pending(
        settings, profile=context.profile, user=context.identity, now=context.clock.now()
    )
    if not settings.loopback:
        raise AuthorizationRequired(
            f"{label}: no Webull Connect token is stored for this user, and the profile's "
            "redirect_uri leads to your platform's server, not to this program",
            pending=pending,
            hint="send the user to error.login_url and, when your server receives the "
            "redirect, call brokerauth_webull_connect.complete(error.pending, callback_url) "
            "(or start logins yourself with begin_login())",
        )
    require_person(context.interaction)  # the user must approve in a browser
    code = wait_for_code(settings, pending, context.interaction)
    token = exchange_code(context, code, pending)
    admit_identity(context.identity, context.stored, token, explicit=False)
    log.info("%s: logged in through the loopback redirect", label)
    return token


def refresh(context: FlowContext, token: Token) -> Token:
    """The next generation (rotation: the answer's refresh token replaces ours)."""
    if token.refresh_token is None:
        raise authorize_again(context, "no refresh token is stored")
    if token.refresh_expired(context.clock.now()):
        # Known from rt_expires_in: asking Webull would only waste a signed request.
        raise authorize_again(
            context, "the refresh token has expired (Webull's last 15 days after a login)"
        )
    response = token_request(
        context, {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
    )
    if not response.ok:
        raise refresh_error(context, response)
    new = parse_answer(context, response, previous=token)
    if token.identity is not None and new.identity != token.identity:
        raise ResponseError(
            f"{context.profile}/{context.identity}: the refresh answer names a different "
            "Webull user than the token it replaces; nothing was stored",
            status=response.status,
        )
    return new


def wait_for_code(settings: ConnectSettings, pending: PendingLogin,
                  interaction: Interaction) -> str:
    """Show the login URL and wait on the loopback redirect for its code."""
    listener = LoopbackListener(
        pending.redirect_uri, expected_state=pending.state, timeout=settings.login_timeout
    )
    listener.start()
    try:
        interaction.open_url(pending.url)
        with interaction.waiting(
            "waiting for the Webull login to be approved in the browser",
            deadline=pending.expires_at,
        ):
            return listener.wait()
    finally:
        listener.close()


def exchange_code(context: FlowContext, code: str, pending: PendingLogin) -> Token:
    """Trade an authorization code for the user's first token."""
    settings = _settings(context)
    grant = {"grant_type": "authorization_code", "code": code}
    if settings.send_redirect_uri:
        grant["redirect_uri"] = pending.redirect_uri
    if pending.code_verifier is not None:
        grant["code_verifier"] = pending.code_verifier
    response = token_request(context, grant)
    if not response.ok:
        raise code_error(context, response)
    token = parse_answer(context, response, previous=None)
    if token.refresh_token is None:
        raise ResponseError(
            "Webull's answer to the code exchange has no refresh_token; nothing was stored",
            status=response.status,
        )
    return token


def token_request(context: FlowContext, grant: Mapping[str, str]) -> Response:
    """POST to the token endpoint, HMAC-signed (no token), body per ``token_body``, the
    client authenticated per ``token_auth_method``."""
    settings = _settings(context)
    fields = dict(grant)
    headers: dict[str, str] = {}
    if settings.token_auth_method == "client_secret_basic":
        # RFC 6749 §2.3.1 forbids a second method in the same request: nothing in the body.
        headers["Authorization"] = basic_authorization(settings.client_id,
                                                       settings.client_secret.reveal())
    else:
        fields = {"client_id": settings.client_id,
                  "client_secret": settings.client_secret.reveal(), **fields}
    if settings.token_body == "json":
        return context.http.request("POST", settings.token_url, json=fields,
                                    headers=headers or None, token=None)
    return context.http.request("POST", settings.token_url, data=fields,
                                headers=headers or None, token=None)


def basic_authorization(client_id: str, client_secret: str) -> str:
    """``Basic`` credentials per RFC 6749 §2.3.1: each part form-urlencoded first, so a
    colon or a non-ASCII character in either survives the trip."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


# -- answers -------------------------------------------------------------------------------
def parse_answer(context: FlowContext, response: Response, *, previous: Token | None) -> Token:
    """A token from Webull's all-strings answer, every field checked.

    The expiry counts from ``created_at`` (a token may be older than the answer), moved onto
    this machine's clock with the answer's ``Date`` header, so a server clock that differs
    from ours neither shortens nor stretches the token's life; never later than now.
    ``expires_in`` and ``rt_expires_in`` are whole seconds (``"1800"`` or ``1800``, up to 10
    years; :func:`brokerauth.toolkit.numbers.lifetime`); without ``expires_in`` the token lives
    :data:`DEFAULT_LIFETIME` (30 minutes, what Webull documents); without ``rt_expires_in``
    the refresh token's lifetime is unknown (Webull refuses it when it is over).
    """
    body = token_body(response, what="Webull's token answer")
    status = response.status
    now = context.clock.now()
    created = parse_created_at(body.get("created_at"), status)
    issued = now if created is None else min(created - _server_offset(response, now), now)
    identity = _identity(body.get("identity_id"), status)
    if identity is None and previous is not None:
        identity = previous.identity
    token = parse_token_answer(
        body,
        broker=BROKER,
        now=now,
        status=status,
        previous=previous,
        identity=identity,
        issued_at=issued,
        refresh_lifetime_field="rt_expires_in",
        default_lifetime=DEFAULT_LIFETIME,
    )
    return token.replace(hard_expires_at=_authorization_end(token, previous))


def _authorization_end(token: Token, previous: Token | None) -> datetime | None:
    """When the user must authorize again whatever is refreshed: the refresh token's end,
    unless refreshing moved that end later (a server whose refresh tokens slide: then
    keep-alive keeps the authorization, and it has no hard end).  Webull documents 15 days
    without saying whether a rotated refresh token starts them again; its sandbox keeps the
    login's end, so the end is taken as hard until a refresh shows otherwise."""
    end = token.refresh_expires_at
    before = previous.refresh_expires_at if previous is not None else None
    if end is not None and before is not None and end > before + _SLIDE:
        return None
    return end


def parse_created_at(value: Any, status: int) -> datetime | None:
    """``created_at`` as an aware UTC time: ``2024-09-01T19:37:22.532+0000`` (Webull's form),
    any ISO 8601 form (no offset means UTC), or epoch seconds or milliseconds as ASCII digits
    (a JSON integer, or a string); in every form between 2000 and 2100
    (:mod:`brokerauth.toolkit.numbers`), so no answer can push the expiry past what a date holds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ResponseError("token answer: created_at is not a date-time", status=status)
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, int) or (text.isascii() and text.isdigit()):
        return epoch_time(text, "created_at", status, unit="auto")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ResponseError("token answer: created_at is not a date-time",
                            status=status) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return time_in_range(parsed, "created_at", status)


def _server_offset(response: Response, now: datetime) -> timedelta:
    """The server's clock minus ours, from ``Date`` (whole seconds; below 2 s it is noise).

    A ``Date`` outside 2000..2100 is not a clock reading and counts as no offset: moving
    ``created_at`` by centuries could take it past what a date holds."""
    date = response.headers.get("Date")
    if not date:
        return timedelta(0)
    try:
        server = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return timedelta(0)
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    if not EARLIEST <= server < LATEST:
        return timedelta(0)
    seconds = round((server - now).total_seconds())
    return timedelta(seconds=seconds) if abs(seconds) >= 2 else timedelta(0)


def _identity(value: Any, status: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if (
        not isinstance(value, str)
        or not value
        or len(value) > _MAX_IDENTITY
        or not value.isprintable()
        or value != value.strip()
    ):
        raise ResponseError("token answer: identity_id is not a usable identifier",
                            status=status)
    return value


# -- errors --------------------------------------------------------------------------------
#: How the token endpoint words its refusals.
TOKEN_ERRORS: Final = TokenErrorDialect(
    code_fields=codes.CODE_FIELDS,
    message_fields=codes.MESSAGE_FIELDS,
    dead_grant=codes.CODE_DEAD | codes.REFRESH_DEAD,
    invalid_client=codes.CLIENT_REFUSED,
)


def code_error(context: FlowContext, response: Response) -> BrokerAuthError:
    """A refused code exchange as a typed error."""
    code, message = TOKEN_ERRORS.fields(response)
    if code in codes.CODE_DEAD:
        return AuthorizationError(f"Webull refused the authorization code: {message or code}",
                                  hint=CODE_DEAD_HINT)
    if code == codes.REDIRECT_URI_ERROR:
        return AuthorizationError(
            f"Webull refused the redirect_uri sent with the code: {message or code}",
            hint="set redirect_uri to exactly the URI registered with Webull",
        )
    return _refusal(response, code, message, "exchanging the authorization code")


def refresh_error(context: FlowContext, response: Response) -> BrokerAuthError:
    """A refused refresh as a typed error: a dead refresh token means authorize again."""
    code, message = TOKEN_ERRORS.fields(response)
    if code in codes.REFRESH_DEAD:
        reason = (
            "the refresh token has expired (Webull's last 15 days after a login)"
            if code == codes.REFRESH_TOKEN_EXPIRED
            else "Webull refused the refresh token"
        )
        return authorize_again(context, f"{reason}: {message or code}")
    return _refusal(response, code, message, "refreshing the token")


def _refusal(response: Response, code: str | None, message: str | None,
             what: str) -> BrokerError:
    status = response.status
    if code in codes.CLOCK_SKEW_CODES:
        return BrokerError(message or f"{what}: the request's timestamp was refused",
                           status=status, code=code,
                           hint="synchronise this machine's clock (e.g. enable NTP)")
    if code in codes.CLIENT_REFUSED or status == 401:
        return BrokerError(
            message or f"{what}: Webull refused this platform's credentials",
            status=status, code=code,
            hint="check client_id and client_secret, and token_auth_method (the client "
            "secret in the body, client_secret_post, or in HTTP Basic, client_secret_basic, "
            "as the token endpoint expects), app_key / app_secret (the token request is "
            "HMAC-signed with them), and that the profile's environment is the one they were "
            "issued for",
        )
    if status >= 500:
        return BrokerError(message or f"{what}: Webull's server failed", status=status,
                           code=code, hint="try again in a moment")
    return BrokerError(message or f"{what} failed", status=status, code=code)


def authorize_again(context: FlowContext, reason: str) -> AuthorizationRequired:
    """The user must log in again: carry a fresh login URL, and the pending login that
    finishes it for the same identity."""
    settings = _settings(context)
    pending = new_pending(
        settings, profile=context.profile, user=context.identity, now=context.clock.now()
    )
    if settings.loopback:
        hint = (f"run `{context.login_command}`, or call login() on the "
                "session (either opens the Webull login page)")
    else:
        hint = ("log the user in through the platform: send them to error.login_url and "
                "finish with brokerauth_webull_connect.complete(error.pending, callback_url) "
                "(the command line logs in only profiles whose redirect_uri is on loopback)")
    return AuthorizationRequired(
        # The reason ends with the server's own words, kept as they are (full stop and all).
        f"{context.profile}/{context.identity}: authorize again: {reason}",
        pending=pending,
        hint=hint,
    )


def admit_identity(key: str, stored: Token | None, token: Token, *, explicit: bool) -> None:
    """Refuse to file ``token`` under identity ``key`` if that would mix two Webull users.

    A key that already holds a user's token keeps that user (log out to link another).  An
    empty key takes the new user when it names that user (``identity_id``), is the default
    identity (a single-user desktop profile), or was chosen explicitly by the caller (a
    platform naming its users its own way, through ``complete(user=...)``).
    """
    new = token.identity
    if new is None:
        return
    if stored is not None and stored.identity is not None:
        if stored.identity != new:
            raise AuthorizationError(
                f"identity {key!r} holds another Webull user's token than the one who just "
                "signed in; nothing was stored",
                hint="to link a different Webull account, log this identity out first "
                "(session.logout()), then log in again",
            )
        return
    if explicit or key in (new, DEFAULT_IDENTITY):
        return
    raise AuthorizationError(
        f"the Webull user who signed in is not identity {key!r}; nothing was stored",
        hint="open the session with user= set to the Webull identity_id of the person "
        "signing in (or without user= on a single-user desktop); a platform that names its "
        "users its own way passes user= to brokerauth_webull_connect.complete()",
    )


def _settings(context: FlowContext) -> ConnectSettings:
    settings = context.settings
    if not isinstance(settings, ConnectSettings):
        raise ConfigError(
            f"the {NAME} flow needs a broker = \"{BROKER}\" profile's settings",
            hint=f"use the {NAME} flow only with Webull Connect profiles",
        )
    return settings
