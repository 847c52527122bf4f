"""The part both adapters share: the one auth flow, for a request another library sends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from brokerauth.contract.verdicts import Outcome
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.api import session as open_session
from brokerauth.engine.authflow import Attempt, Flow, Policy, Result, auth_flow, resign
from brokerauth.engine.refresh import NotAtHand
from brokerauth.engine.sessions import Session

if TYPE_CHECKING:
    from brokerauth.contract.errors import OriginError
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.refresh import TokenManager


@lru_cache(maxsize=1024)
def _cached_target(method: str, url: str, body: bytes | None) -> Request:
    return Request.from_url(method, url, body=body)


#: The longest URL whose request is kept: the cache holds at most 1024 of them, so its size in
#: bytes stays small whatever URLs a caller sends (a longer URL is parsed each time).
_CACHED_URL_LENGTH = 256


def _target(method: str, url: str, body: bytes | None) -> Request:
    """``method url`` with an empty ``body`` (``None`` or ``b""``, kept apart: a signer may
    tell them apart), as :meth:`Request.from_url` builds it: a foreign library
    sends the same requests again and again, and parsing a URL is a fifth of the adapter's own
    work per request.  A request is immutable: one serves every flow that sends it.  Only
    short URLs are kept (see :data:`_CACHED_URL_LENGTH`)."""
    if len(url) <= _CACHED_URL_LENGTH:
        return _cached_target(method, url, body)
    return Request.from_url(method, url, body=body)


#: Raised where the event loop must not wait for the token: the attempt goes to a thread.
MustWait = NotAtHand


class _NoWaitTokens:
    """The token manager as an event loop may use it: the current token when it is at hand, or
    :class:`MustWait` raised; :meth:`allow_waiting` makes it the manager itself (for the
    attempts after the first, which run in a worker thread).  One per request: ``current`` is
    the manager's own method, bound once (no call of this object's own per attempt)."""

    __slots__ = ("current", "manager")

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager
        self.current: Callable[[], Token | None] = manager.current_nowait

    def allow_waiting(self) -> None:
        self.current = self.manager.current

    def invalidate(self, seen: Token) -> None:
        self.manager.invalidate(seen)


class AdapterCore:
    """A brokerauth session used for its binding and token manager only: the HTTP is sent by
    the foreign library, which drives the flow."""

    def __init__(self, profile: Any, *, follow_redirects: bool, **session_options: Any) -> None:
        from brokerauth.toolkit.logs import quiet_http_logs

        self.session: Session = open_session(profile, **session_options)
        quiet_http_logs()  # the foreign library logs each URL, query and all
        self.policy = Policy(follow_redirects=follow_redirects)

    @staticmethod
    def request(method: str, url: str, body: bytes | None) -> Request:
        """The foreign request ``method url`` with ``body`` (its headers are the library's)."""
        if not body:
            if len(url) <= _CACHED_URL_LENGTH:  # _target, inlined: it runs for every request
                return _cached_target(method, url, body)
            return Request.from_url(method, url, body=body)
        target = _target("GET", url, None)
        return Request(method, target.scheme, target.host, target.path, target.params, {},
                       body)

    def start(self, method: str, url: str, body: bytes | None) -> tuple[Flow, Attempt]:
        """The flow for a foreign request, and its first attempt (signed, origin checked)."""
        flow = auth_flow(self.session.binding, self.request(method, url, body), self.policy,
                         tokens=self.session.tokens)
        return flow, next(flow)

    def start_nowait(self, method: str, url: str,
                     body: bytes | None) -> tuple[Flow, Attempt] | None:
        """As :meth:`start`, without waiting for anything: ``None`` when the token is not at
        hand (it must be obtained, read from the store or refreshed), so that the caller
        starts again in a worker thread.  Nothing was sent then.  An event loop's path: a fresh
        token is served on the loop, and only what may block goes to a thread."""
        tokens = _NoWaitTokens(self.session.tokens)
        flow = auth_flow(self.session.binding, self.request(method, url, body), self.policy,
                         tokens=cast("TokenManager", tokens))
        try:
            attempt = next(flow)
        except MustWait:
            return None
        tokens.allow_waiting()
        return flow, attempt

    @staticmethod
    def answer(attempt: Attempt, status: int, headers: Mapping[str, str],
               content: bytes) -> Response:
        """A foreign answer to ``attempt``, for the flow to judge."""
        return Response(status, headers, content, attempt.request, attempt.signature)

    def ended(self, result: Result) -> Callable[[], None] | None:
        """What is left to do now that the flow ended on ``result``, as a session does after
        a request: a success records the credential's use (for one with an idle limit, at
        most hourly: a store write, so an event loop runs it in a thread); ``None`` when there
        is nothing to do, which is almost always."""
        tokens = self.session.tokens
        if result.verdict.outcome is Outcome.OK and tokens.use_due():
            return tokens.note_use
        return None

    def resign(self, attempt: Attempt, method: str, url: str, body: bytes | None) -> Attempt:
        """``attempt`` after the foreign library followed a redirect to ``method url``."""
        return resign(self.session.binding, attempt, method, url, body)

    def through_proxy(self, origin: str, proxy: str) -> OriginError:
        """The refusal of a signed request to ``origin`` that the foreign library would send
        through the forwarding proxy ``proxy``: such a proxy is sent the whole request in
        clear, credentials and all (only an https origin's request is tunnelled, unread)."""
        from brokerauth.contract.errors import OriginError
        from brokerauth.contract.scrub import terminal_text

        return OriginError(
            f"{self.session.binding.label}: {origin} would be reached through the forwarding "
            f"proxy {terminal_text(proxy)}, which would read the request and its credentials; "
            "nothing was sent",
            origin=proxy,
            hint="exempt the origin from the proxy (NO_PROXY=127.0.0.1,localhost,::1), or "
            "give the client no proxy for it",
        )
