"""The authenticated session users call: every request signed, the token attached, refreshed.

Each request goes through the one auth flow (:mod:`brokerauth.engine.authflow`, which lists the
rules): only to the profile's origins, signed anew on every attempt, one refresh after a rejected
token, one resend after a timestamp rejection, connection errors re-sent for GET, HEAD and OPTIONS
only.  The session never follows a redirect: the answer is returned as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from brokerauth.contract.errors import (
    AuthenticationError,
    BrokerAuthError,
    ClockSkewError,
    IssuedElsewhereError,
)
from brokerauth.contract.interaction import logger
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import Outcome, default_error
from brokerauth.contract.wire import Response
from brokerauth.engine.authflow import Attempt, Policy, auth_flow, run
from brokerauth.engine.binding import ProfileBinding
from brokerauth.engine.profiles import ProfileOptions
from brokerauth.engine.refresh import TokenManager

if TYPE_CHECKING:
    from types import EllipsisType

LOGGER = "brokerauth.engine.sessions"


Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None
Body = Mapping[str, Any] | bytes | str | None


@attrs.frozen
class LogoutResult:
    #: Whether a token was stored (and is now deleted).
    removed: bool
    #: True: the broker revoked it; False: the broker has no revocation; None: not attempted.
    revoked: bool | None = None
    #: Why the token was not revoked, when revocation was asked for and did not happen: the
    #: store could not be read, the token was issued elsewhere, or the broker failed it.
    problem: str | None = None
    #: Whether the broker (or the way to it) failed the revocation: the token may still be
    #: valid there.
    failed: bool = False
    #: The error that kept the revocation asked for from happening (the store could not be
    #: read, the broker failed it); ``None`` when it happened, was not asked for, or was
    #: left out on purpose (a token issued elsewhere).
    error: BrokerAuthError | None = None

    def __bool__(self) -> bool:
        return self.removed


class Session:
    """An authenticated HTTP session for one profile and identity. Thread-safe."""

    def __init__(self, binding: ProfileBinding, options: ProfileOptions) -> None:
        self.binding = binding
        self.options = options
        self.tokens = TokenManager(
            binding,
            binding.clock,
            advisory=options.refresh_advisory,
            mandatory=options.refresh_mandatory,
            lock_timeout=options.lock_timeout,
            tell=binding.interaction.say,
        )
        self._policy = Policy(retries=options.retries)

    @property
    def profile(self) -> str:
        return self.binding.resolved.name

    @property
    def identity(self) -> str:
        return self.binding.identity

    @property
    def base_url(self) -> str:
        return self.binding.base_url

    # -- requests --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        json: Any = None,
        data: Body = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_bytes: int | EllipsisType | None = ...,
    ) -> Response:
        """Send an authenticated request and return the answer, whatever its status.

        ``url`` is a path resolved against the profile's base URL, or absolute.  Call
        ``raise_for_status()`` on the answer to turn an error status into a typed error.

        :param headers: sent as given, beside the signer's; a ``User-Agent`` (any spelling)
            replaces brokerauth's ``brokerauth/VERSION PLUGIN/VERSION`` for this request
            (for every request: ``Transport(user_agent=...)``, given to ``session``).
        :param timeout: seconds for each exchange with the server, the whole of it: connect,
            send and the complete answer, however slowly it arrives (the profile's
            ``timeout`` if not given); past it, :class:`~brokerauth.contract.errors.TransportError`.
        :param max_bytes: the largest answer body accepted, counted after decompression; by
            default the profile's ``max_response_bytes``.  Give a number for this request, or
            ``None`` for no limit at all: only for a large download you expect, as the whole
            body is held in memory.  An answer over it is a
            :class:`~brokerauth.contract.errors.ResponseError`.
        """
        binding = self.binding
        request = binding.build(method, url, params=params, json=json, data=data, headers=headers)
        timeout = self.options.timeout if timeout is None else timeout
        transport = binding.transport
        limit: int | None = self.options.max_response_bytes
        limit_name = "the profile's max_response_bytes"
        if max_bytes is not ...:
            limit, limit_name = max_bytes, "max_bytes"

        def send(attempt: Attempt) -> Response:
            return transport.send(attempt.request, signature=attempt.signature, timeout=timeout,
                                  max_bytes=limit, limit_name=limit_name)

        result = run(auth_flow(binding, request, self._policy, tokens=self.tokens), send)
        outcome = result.verdict.outcome
        if outcome is Outcome.REVOKED:
            error = self._auth_error(result.response, outcome, result.verdict.code,
                                     result.verdict.message)
            # A login made since (elsewhere) is in the store: use it, once.
            if self.tokens.revoked(error.message, error.hint):
                result = run(auth_flow(binding, request, self._policy, tokens=self.tokens),
                             send)
                outcome = result.verdict.outcome
        if outcome is Outcome.OK:
            self.tokens.note_use()
            return result.response
        if outcome is Outcome.ERROR:
            return result.response
        raise self._auth_error(result.response, outcome, result.verdict.code,
                               result.verdict.message)

    def get(self, url: str, *, params: Params = None, **kwargs: Any) -> Response:
        return self.request("GET", url, params=params, **kwargs)

    def post(self, url: str, *, json: Any = None, data: Body = None, **kwargs: Any) -> Response:
        return self.request("POST", url, json=json, data=data, **kwargs)

    def put(self, url: str, *, json: Any = None, data: Body = None, **kwargs: Any) -> Response:
        return self.request("PUT", url, json=json, data=data, **kwargs)

    def patch(self, url: str, *, json: Any = None, data: Body = None, **kwargs: Any) -> Response:
        return self.request("PATCH", url, json=json, data=data, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)

    # -- tokens ----------------------------------------------------------------------------
    @property
    def token(self) -> Token | None:
        """The current token (refreshed or obtained if needed)."""
        return self.tokens.current()

    def login(self, *, replace_elsewhere: bool = False) -> Token | None:
        """Run the profile's flow now, replacing any stored token; one issued for another
        origin than the profile's only with ``replace_elsewhere`` (see
        :meth:`~brokerauth.engine.refresh.TokenManager.login`)."""
        return self.tokens.login(replace_elsewhere=replace_elsewhere)

    def refresh(self) -> Token | None:
        """Refresh now, whatever the windows say."""
        return self.tokens.refresh_now()

    def logout(self, *, revoke: bool = True) -> LogoutResult:
        """Revoke the token where the broker can (unless ``revoke=False``), then forget it here
        and in the store. A failed revocation is reported, and the token deleted anyway."""
        revoked: bool | None = None
        problem: str | None = None
        failed = False
        error: BrokerAuthError | None = None
        stored = None
        if revoke:
            try:
                stored = self.binding.load()
            except IssuedElsewhereError as exc:
                problem = (f"it was issued for {exc.issued_for}, where the profile no longer "
                           "points, so it was not sent anywhere")
            except BrokerAuthError as exc:
                # A corrupt store: deleting it is the way out, but nothing could be revoked.
                problem, error = exc.message, exc
        if stored is not None:
            try:
                revoked = self.binding.revoke(stored)
            except BrokerAuthError as exc:
                problem, failed, error = f"the revocation failed: {exc.message}", True, exc
                logger(LOGGER).warning("%s: revocation failed, deleting the token anyway: %s",
                            self.binding.label, exc.message)
        removed = self.binding.delete()
        self.tokens.forget()
        return LogoutResult(removed=removed, revoked=revoked, problem=problem, failed=failed,
                            error=error)

    def close(self) -> None:
        self.binding.transport.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Session profile={self.profile!r} identity={self.identity!r}>"

    # -- internals -------------------------------------------------------------------------
    def _auth_error(
        self, response: Response, outcome: Outcome, code: str | None, message: str | None
    ) -> BrokerAuthError:
        label = self.binding.label
        if outcome is Outcome.CLOCK_SKEW:
            return ClockSkewError(
                message or "the broker rejected the request's timestamp",
                status=response.status,
                code=code,
                hint="synchronise this machine's clock (e.g. enable NTP)",
            )
        if outcome is Outcome.REVOKED:
            return AuthenticationError(
                message or f"{label}: the credential was revoked",
                status=response.status,
                code=code,
                hint=f"create new credentials, then run `{self.binding.login_command}`",
            )
        if outcome is Outcome.TOKEN_INVALID:
            return AuthenticationError(
                message or f"{label}: the broker rejected the token even after a refresh",
                status=response.status,
                code=code,
                hint=f"run `{self.binding.login_command}`",
            )
        return default_error(response)
