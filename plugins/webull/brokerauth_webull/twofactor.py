"""The ``webull-2fa`` token flow: Webull's optional 2FA access token.

Acquiring a token:

1. Decide whether the account needs one (``two_factor``): ``on``, ``off`` (no token: requests
   are only signed), or ``auto``, which asks ``GET /openapi/config`` for
   ``token_check_enabled`` (Hong Kong environments count as ``on`` without asking, as SDK 3.x
   does).
2. With ``import_sdk_token``, reuse the token the official SDK saved in ``token.txt`` (read
   only) if the file says ``NORMAL`` and Webull confirms it.
3. Create one (``/auth/tokens/create`` v3 or ``/openapi/auth/token/create`` v2), passing the
   stored token so Webull hands a still-active one back instead of sending a new SMS.  A
   ``PENDING`` token is polled with ``check`` while the user enters the SMS code in the Webull
   App; ``NORMAL`` is returned, ``EXPIRED`` (5 minutes passed) is a
   :class:`~brokerauth.contract.errors.VerificationTimeoutError`, ``INVALID`` is replaced once.

Webull allows 10 token requests per 30 s per app key: the plugin declares that budget and the
core counts every request of the flow against it in the token store, so processes sharing the
store share the count; polling never runs faster than every 3 s, and an HTTP 429 (another
program using the app key) backs off and tries again.  No message or log line here contains a
token or a secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import attrs
from brokerauth.contract.errors import (
    BrokerError,
    LoginRequiredError,
    ResponseError,
    StoreError,
    TransportError,
    VerificationTimeoutError,
)
from brokerauth.contract.flowcontext import FlowContext
from brokerauth.contract.interaction import logger, require_person
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import error_fields
from brokerauth.contract.wire import Response
from brokerauth.toolkit.numbers import epoch_time, whole_number

from brokerauth_webull import codes, endpoints, environments, sdk_token

#: Looked up when a line is logged: ``logging`` stays off ``brokerauth sign``'s start-up.
LOGGER: Final = "brokerauth.webull"

#: Webull's limit on the token endpoints (the plugin's token budget, which the core enforces).
RATE_LIMIT: Final = endpoints.TOKEN_BUDGET.calls
RATE_PERIOD: Final = endpoints.TOKEN_BUDGET.per
#: Polling faster than this would exhaust the limit within one period.
MIN_POLL_INTERVAL: Final = 3.0
#: HTTP 429 answers in a row before giving up on one request.
MAX_THROTTLED: Final = 3
#: Connection failures in a row tolerated while polling (a phone-in-hand wait of minutes
#: should survive a network blip; a dead network should not be polled for 5 minutes).
MAX_POLL_FAILURES: Final = 3
#: How long Webull keeps a token ``PENDING`` before marking it ``EXPIRED``.
SERVER_WINDOW: Final = 300.0
#: ``x-version`` of ``GET /openapi/config`` (SDK 3.x sends v2 there whatever the token API).
CONFIG_VERSION: Final = "v2"

APP_PATH: Final = (
    "Open the Webull App → Menu → Messages → OpenAPI Notifications → tap the latest "
    "verification message → Check Now, and enter the SMS code"
)

#: A 2FA token unused this long becomes INVALID (seed 000); each successful use restarts it.
IDLE_LIMIT: Final = timedelta(days=15)

_VERIFIED_BY: Final = "verified_by"
#: A new token came back NORMAL straight from create: the server verifies on its own (Webull's
#: test environment), so replacing it later needs no person.
AUTO: Final = "auto"
SMS: Final = "sms"
SDK_IMPORT: Final = "webull-sdk"

# SDK 2.x answered statuses as numbers, in this order.
_NUMERIC_STATUS: Final = dict(enumerate(codes.TOKEN_STATUSES))
_SHOWABLE = re.compile(r"[A-Za-z_]{1,24}\Z")


@attrs.frozen
class TokenAnswer:
    """What create and check said about one token."""

    token: str = attrs.field(repr=False)
    status: str
    expires_at: datetime | None


# -- the two hooks ---------------------------------------------------------------------------
def acquire(context: FlowContext) -> Token | None:
    """Obtain a verified token, or ``None`` when the profile's account needs none.

    :raises VerificationTimeoutError: the SMS code was not entered in time.
    :raises BrokerError: Webull refused a request (its code and message kept).
    :raises ResponseError: Webull's answer was malformed.
    """
    api = TokenApi(context)
    if not token_required(context, api):
        logger(LOGGER).info("%s: Webull 2FA is off for this account; requests carry no token",
                            _label(context))
        return None
    stored = _own(context, context.stored)
    if stored is None and context.settings.import_sdk_token:
        imported = _import_sdk_token(context, api)
        if imported is not None:
            return imported
    if context.settings.environment not in environments.AUTO_VERIFIED:
        # A new token is verified by SMS: with no one to enter the code, creating one would
        # only text a phone nobody is watching.
        require_person(context.interaction)
    return _create_verified(context, api, stored)


def refresh(context: FlowContext, token: Token) -> Token | None:
    """Keep ``token`` usable without the user, or say clearly that the user is needed.

    Webull's 2FA token has no refresh token.  It stays ``NORMAL`` for as long as it is used
    at least once every 15 days, and its expiry moves forward with each use; the core calls
    this when the stored expiry is near or Webull answered ``INVALID_TOKEN``.  So:

    * ``check`` the token.  ``NORMAL`` with a later expiry at least half the idle limit away
      (it was used lately): return it with that expiry (no SMS, nobody disturbed).  ``NORMAL``
      otherwise (unused lately): ``create`` with it, which Webull answers with the same token
      and a renewed expiry (what the SDK does on every start) — so a refresh, also one
      ``brokerauth keepalive`` asks for days ahead, always pushes the end a week or more away.
    * Otherwise a new token must be verified by SMS, which needs a person with the phone.  A
      refresh runs inside some program's request, often unattended (a trading process, a
      cron job): sending an SMS nobody expects and blocking that request for 5 minutes would
      help no one.  So this raises :class:`~brokerauth.contract.errors.LoginRequiredError` naming
      the token's status and the command to run (``brokerauth login PROFILE``), which tells the
      user more than the core's generic message for a ``None``.
    * Except where no person is needed: in a test environment, or when Webull verified the
      token on its own when it was created, a new token is created and returned.
    """
    api = TokenApi(context)
    answer = api.check(token.access_token)
    verified_by = token.extra.get(_VERIFIED_BY, "")
    if answer.status == codes.NORMAL:
        if _later(answer.expires_at, token.expires_at) and _lasting(answer.expires_at,
                                                                    context.clock.now()):
            logger(LOGGER).info("%s: the Webull 2FA token is still active; expiry extended",
                                _label(context))
            return _token(context, answer, verified_by)
        renewed = api.create(token.access_token)
        if renewed.status == codes.NORMAL:
            same = renewed.token == token.access_token
            logger(LOGGER).info("%s: the Webull 2FA token was renewed", _label(context))
            return _token(context, renewed, verified_by if same else AUTO)
        # It lapsed between check and create, and Webull started a new verification.
        raise _login_required(context, codes.INVALID)
    if _unattended(context, token):
        fresh = api.create(None)
        # Not NORMAL after all (the server now wants the SMS): the user must log in; the
        # pending token it made simply expires.
        if fresh.status == codes.NORMAL:
            logger(LOGGER).info("%s: replaced the lapsed Webull 2FA token (%s) with a new one "
                                "that Webull verified on its own", _label(context), answer.status)
            return _token(context, fresh, AUTO)
    raise _login_required(context, answer.status)


# -- deciding whether a token is needed ------------------------------------------------------
def token_required(context: FlowContext, api: TokenApi) -> bool:
    """The profile's ``two_factor`` setting, resolved (``auto`` may ask Webull)."""
    mode = context.settings.two_factor
    if mode == "on":
        return True
    if mode == "off":
        return False
    if getattr(context.settings, "environment", None) in environments.TOKEN_ALWAYS_REQUIRED:
        return True
    return api.token_check_enabled()


# -- creating and verifying -----------------------------------------------------------------
def _create_verified(context: FlowContext, api: TokenApi, stored: Token | None) -> Token:
    """Create a token (reusing ``stored`` if Webull still accepts it) and wait for the SMS code
    while it is ``PENDING``.  A token Webull calls ``INVALID`` is replaced once, not in a loop."""
    answer = api.create(stored.access_token if stored is not None else None)
    replaced = False
    while True:
        if answer.status == codes.NORMAL:
            if stored is not None and answer.token == stored.access_token:
                logger(LOGGER).info("%s: Webull still accepts the stored 2FA token",
                                    _label(context))
                return _token(context, answer, stored.extra.get(_VERIFIED_BY, ""))
            logger(LOGGER).info("%s: Webull verified the new 2FA token at once", _label(context))
            return _token(context, answer, AUTO)
        if answer.status == codes.PENDING:
            answer = _wait_for_sms(context, api, answer)
            if answer.status == codes.NORMAL:
                logger(LOGGER).info("%s: the Webull 2FA token was verified", _label(context))
                return _token(context, answer, SMS)
        # INVALID (or EXPIRED straight from create): the token is dead before it was used.
        if replaced:
            raise BrokerError(
                f"Webull answered {answer.status} for a newly created 2FA token twice",
                code=answer.status,
                hint=f"wait a minute and run `{context.login_command}` again; if it "
                "persists, check the app's 2FA settings on Webull's API management page",
            )
        replaced = True
        logger(LOGGER).info("%s: Webull answered %s for the 2FA token; creating a new one",
                            _label(context), answer.status)
        context.interaction.say(
            f"Webull no longer knows that 2FA token ({answer.status}); requesting a new one."
        )
        answer = api.create(None)


def _wait_for_sms(context: FlowContext, api: TokenApi, pending: TokenAnswer) -> TokenAnswer:
    """Poll ``check`` until the token leaves ``PENDING``; returns the ``NORMAL`` or ``INVALID``
    answer, raises on ``EXPIRED`` or when ``verification_timeout`` passes."""
    timeout = float(context.settings.verification_timeout)
    deadline = context.clock.now() + timedelta(seconds=timeout)
    window = _duration(min(timeout, SERVER_WINDOW))
    context.interaction.say(
        f"{_label(context)}: Webull sent a verification code by SMS to the phone of your "
        f"Webull account. {APP_PATH} within {window}. (When the Webull App is open with "
        "notifications on, the code window may pop up by itself.)"
    )
    try:
        return _poll_pending(context, api, pending, deadline, window)
    except KeyboardInterrupt:
        # After the countdown line is put away: the person is told what became of the code
        # on their phone before the command says "interrupted".
        context.interaction.say(
            f"{_label(context)}: stopped waiting for the SMS code; nothing was stored, and "
            f"the code already sent is of no use now. `{context.login_command}` asks Webull "
            "for a new code."
        )
        raise


def _poll_pending(context: FlowContext, api: TokenApi, pending: TokenAnswer,
                  deadline: datetime, window: str) -> TokenAnswer:
    clock = context.clock
    interval = max(float(context.settings.poll_interval), MIN_POLL_INTERVAL)
    timeout = float(context.settings.verification_timeout)
    failures = 0
    with context.interaction.waiting(
        f"Waiting for the SMS code to be entered in the Webull App ({window} to do it)",
        deadline=deadline,
    ) as waiting:
        while True:
            try:
                answer = api.check(pending.token)
            except TransportError as exc:
                failures += 1
                if failures >= MAX_POLL_FAILURES:
                    raise
                logger(LOGGER).warning("%s: checking the 2FA token failed (%s); trying again",
                                       _label(context), exc.message)
            else:
                failures = 0
                if answer.status in (codes.NORMAL, codes.INVALID):
                    return answer
                if answer.status == codes.EXPIRED:
                    raise _timed_out(context, SERVER_WINDOW)
            now = clock.now()
            if now >= deadline:
                raise _timed_out(context, timeout)
            waiting.update(
                f"{codes.PENDING}: {_clock_face(deadline - now)} left to enter the SMS code "
                "in the Webull App",
                deadline=deadline,
            )
            clock.sleep(interval)


def _import_sdk_token(context: FlowContext, api: TokenApi) -> Token | None:
    """The official SDK's saved token, if its file says ``NORMAL`` and Webull agrees.

    An unreadable or damaged file is reported and skipped: the user asked for a kindness, and
    a new token by SMS still gets them going."""
    try:
        found = sdk_token.load_sdk_token(context.settings.sdk_token_dir)
    except StoreError as exc:
        logger(LOGGER).warning("%s: not importing the Webull SDK's token: %s", _label(context),
                               exc.message)
        return None
    if found is None:
        logger(LOGGER).info("%s: no Webull SDK token file to import", _label(context))
        return None
    status = found.extra.get("status")
    if status != codes.NORMAL or found.expired(context.clock.now()):
        logger(LOGGER).info("%s: the Webull SDK's saved token is %s; not importing it",
                            _label(context), "expired" if status == codes.NORMAL else status)
        return None
    answer = api.check(found.access_token)
    if answer.status != codes.NORMAL:
        logger(LOGGER).info("%s: Webull says the SDK's saved token is %s; not importing it",
                            _label(context), answer.status)
        return None
    logger(LOGGER).info("%s: imported the token saved by the Webull SDK (its file is left as it "
                        "was)", _label(context))
    return _token(context, answer, SDK_IMPORT)


# -- talking to Webull ----------------------------------------------------------------------
class TokenApi:
    """Webull's token endpoints for one flow run: every request signed by the profile's
    signer, paced by the broker's token budget, HTTP 429 backed off, answers checked."""

    def __init__(self, context: FlowContext) -> None:
        self._context = context
        self._endpoints = endpoints.TOKEN_ENDPOINTS[context.settings.token_api]

    def token_check_enabled(self) -> bool:
        """``GET /openapi/config``: whether the account requires the 2FA token."""
        response = self._send("GET", endpoints.CONFIG, None, CONFIG_VERSION, "the 2FA config")
        body = response.json_object()
        data = body.get("data")
        if "token_check_enabled" not in body and isinstance(data, Mapping):
            body = dict(data)  # a gateway that wraps answers in {"data": ...}
        value = body.get("token_check_enabled")
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ResponseError(
                f"GET {endpoints.CONFIG}: the answer has no true/false token_check_enabled",
                status=response.status,
                hint='set two_factor = "on" or "off" in the profile instead of "auto"',
            )
        return value

    def create(self, previous: str | None) -> TokenAnswer:
        body: dict[str, str] = {} if previous is None else {"token": previous}
        response = self._send("POST", self._endpoints.create, body, self._endpoints.version,
                              "creating a 2FA token")
        return _parse_answer(response, "create", sent=None)

    def check(self, token: str) -> TokenAnswer:
        response = self._send("POST", self._endpoints.check, {"token": token},
                              self._endpoints.version, "checking the 2FA token")
        return _parse_answer(response, "check", sent=token)

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, str] | None,
        version: str,
        what: str,
    ) -> Response:
        throttled = 0
        while True:
            # Paced by the core: the broker's token budget (10 per 30 s) counts every request
            # a flow sends, across the processes sharing the token store.
            response = self._context.http.request(
                method, path, json=body, headers={"x-version": version}
            )
            if response.status != 429:
                break
            throttled += 1
            if throttled > MAX_THROTTLED:
                break
            delay = _retry_after(response) or min(RATE_PERIOD, 10.0 * 2 ** (throttled - 1))
            logger(LOGGER).warning("%s: Webull is rate limiting %s (HTTP 429); waiting %.0f s",
                                   _label(self._context), what, delay)
            self._context.clock.sleep(delay)
        if response.ok:
            return response
        # Scrubbed: the token sent in the body, the signer's headers, all masked if echoed.
        code, message = error_fields(response)
        hint = None
        if response.status == 429:
            hint = (f"Webull allows {RATE_LIMIT} token requests per {RATE_PERIOD:.0f} s per app "
                    "key; another program using this app key may be polling too. Wait a "
                    "minute and try again")
        elif response.status in (401, 403):
            hint = codes.CREDENTIALS_HINT
        raise BrokerError(
            message or f"Webull refused {what}",
            status=response.status,
            code=code,
            hint=hint,
        )


# -- reading answers ------------------------------------------------------------------------
def _parse_answer(response: Response, what: str, *, sent: str | None) -> TokenAnswer:
    # Strict: a token answer naming "token" or "status" twice means different things to
    # different decoders, and one of them may be a proxy's.
    body = response.json_object(strict=True)
    where = f"{response.request.method} {response.request.path}"

    def malformed(problem: str) -> ResponseError:
        return ResponseError(f"{where}: Webull's {what} answer {problem}", status=response.status)

    token = body.get("token", sent)
    if not isinstance(token, str) or not token or not token.isprintable() or token != token.strip():
        raise malformed("has no usable token")
    if sent is not None and token != sent:
        raise malformed("is about another token than the one checked")
    status = _status(body.get("status"))
    if status is None:
        raw = body.get("status")
        shown = raw if isinstance(raw, str) and _SHOWABLE.match(raw) else type(raw).__name__
        raise malformed(
            f"has status {shown!r}, not one of {', '.join(codes.TOKEN_STATUSES)}"
        )
    expires_at = _expiry(body, f"{where}: Webull's {what} answer", response.status)
    if status == codes.NORMAL and expires_at is None:
        raise malformed("has no expiry (expires_at or expires) for an active token")
    return TokenAnswer(token, status, expires_at)


def _status(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _NUMERIC_STATUS.get(value)
    if isinstance(value, str):
        text = value.strip().upper()
        try:
            # ASCII digits only: str.isdigit() also accepts superscripts, which int() refuses,
            # and Arabic-Indic digits, which it reads.
            return _NUMERIC_STATUS.get(whole_number(text, low=0, high=len(_NUMERIC_STATUS)))
        except ValueError:
            return text if text in codes.TOKEN_STATUSES else None
    return None


def _expiry(body: Mapping[str, Any], what: str, status: int) -> datetime | None:
    """``expires_at`` (Webull's docs) or ``expires`` (what the SDK reads): a whole number of
    epoch milliseconds (below 10**11, seconds, which some gateways send), between 2000 and
    2100 (:func:`brokerauth.toolkit.numbers.epoch_time`); ``0`` or absent means unknown (a
    ``PENDING`` token has none yet).

    :raises ResponseError: naming the field, for anything else (a float, ``"soon"``,
        Arabic-Indic digits, a negative number, 10**30).
    """
    name = "expires_at" if body.get("expires_at") is not None else "expires"
    value = body.get(name)
    if value is None or (type(value) is int and value == 0) or value == "0":
        return None
    return epoch_time(value, name, status, what=what, unit="auto")


def _retry_after(response: Response) -> float | None:
    for key, value in response.headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return min(max(seconds, 1.0), 2 * RATE_PERIOD) if math.isfinite(seconds) else None
    return None


# -- building tokens and errors -------------------------------------------------------------
def _token(context: FlowContext, answer: TokenAnswer, verified_by: str) -> Token:
    extra = {"status": codes.NORMAL}
    if verified_by:
        extra[_VERIFIED_BY] = verified_by
    now = context.clock.now()
    # Webull's expiry is its last use plus the idle limit: that use is the one it counts from.
    last_use = answer.expires_at - IDLE_LIMIT if answer.expires_at is not None else now
    return Token(
        access_token=answer.token,
        broker=context.broker,
        expires_at=answer.expires_at,
        refresh_token=None,
        token_type=codes.TOKEN_TYPE,
        identity=context.identity,
        issued_at=now,
        extra=extra,
        idle_timeout=IDLE_LIMIT.total_seconds(),
        last_used_at=min(last_use, now),
    )


def _own(context: FlowContext, token: Token | None) -> Token | None:
    """The stored token if it is one of this broker's (a profile may have changed broker)."""
    return token if token is not None and token.broker == context.broker else None


def _unattended(context: FlowContext, token: Token) -> bool:
    """Whether a new token would be verified without a person (see :func:`refresh`)."""
    environment = getattr(context.settings, "environment", None)
    return environment in environments.AUTO_VERIFIED or token.extra.get(_VERIFIED_BY) == AUTO


def _later(new: datetime | None, old: datetime | None) -> bool:
    return new is not None and (old is None or new > old)


def _lasting(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at - now >= IDLE_LIMIT / 2


def _login_required(context: FlowContext, status: str) -> LoginRequiredError:
    if status == codes.INVALID:
        why = ("Webull no longer accepts the stored 2FA token (INVALID: unused for 15 days, "
               "or unknown to Webull)")
    else:
        why = f"the stored 2FA token was never verified ({status})"
    return LoginRequiredError(
        f"{_label(context)}: {why}; a new token must be verified with an SMS code",
        hint=f"run `{context.login_command}`, then {_lower_first(APP_PATH)}",
    )


def _timed_out(context: FlowContext, seconds: float) -> VerificationTimeoutError:
    return VerificationTimeoutError(
        f"{_label(context)}: verification timed out: the SMS code was not entered in the "
        f"Webull App within {_duration(seconds)}, so the 2FA token was not activated",
        hint=f"run `{context.login_command}` to start again, then "
        f"{_lower_first(APP_PATH)} within 5 minutes",
    )


def _label(context: FlowContext) -> str:
    return f"{context.profile}/{context.identity}"


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:.0f} seconds"


def _clock_face(left: timedelta) -> str:
    seconds = max(0, math.ceil(left.total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
