"""The one auth flow: every request that carries a profile's credentials goes through here.

``sign → send → judge → maybe refresh once, or learn the clock once → resend``, as one generator
(httpx's ``Auth.auth_flow`` is the model): it yields each :class:`Attempt` to send, and its
driver — the session, the HTTP client token flows use, the requests and httpx adapters — sends
it and passes the :class:`~brokerauth.contract.wire.Response` back in, or throws the
:class:`~brokerauth.contract.errors.TransportError` into it.  The generator returns the last answer
    with
its verdict.  Sending is the driver's; every decision is made here:

* the origin check: a request to an origin outside the profile's is refused before it is signed;
* header safety: the caller's headers and the signer's are checked before anything is sent;
* a 401 the broker marks as an invalid token: one refresh, one resend;
* a timestamp rejection: the clock offset learned from ``Date``, one resend;
* after a connection error only GET, HEAD and OPTIONS are re-sent, each signed anew; never
  after a :class:`~brokerauth.contract.errors.DeadlineError` (the server is there, only slow);
* redirects: followed only where the driver asks (an adapter whose library would otherwise
  forward the credentials), and only within the origin, signed anew; a redirect to another
  origin is refused.

A resend after a 401 or a timestamp rejection is safe for every method: the broker refused the
request before acting on it.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Protocol

import attrs

from brokerauth.contract.errors import DeadlineError, OriginError, ResponseError, TransportError
from brokerauth.contract.interaction import logger
from brokerauth.contract.tokens import Token
from brokerauth.contract.verdicts import OK, Outcome
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit.headers import check_headers

if TYPE_CHECKING:
    from brokerauth.contract.clock import Clock
    from brokerauth.contract.verdicts import Verdict
    from brokerauth.engine.refresh import TokenManager

LOGGER = "brokerauth.engine.authflow"

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: More hops than any broker uses; a loop ends here instead of in the library's own limit.
MAX_REDIRECTS = 10


class Credentials(Protocol):
    """What the flow asks of a profile's credentials: a
    :class:`~brokerauth.engine.binding.ProfileBinding` (named by its shape, so that the
    binding's own HTTP client can drive the flow without an import cycle)."""

    @property
    def label(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def signer_name(self) -> str: ...

    def check_origin(self, request: Request) -> None: ...

    def signature_headers(self, request: Request, token: Token | None) -> Mapping[str, str]: ...

    def interpret(self, response: Response) -> Verdict: ...

    def learn_skew(self, response: Response) -> bool: ...


@attrs.frozen
class Policy:
    """What one driver of the flow wants of it."""

    #: Resends of an idempotent request after a connection error.
    retries: int = 0
    #: Whether to sign (a token flow's unsigned calls still get the origin check).
    sign: bool = True
    #: Refresh once and resend on an answer that says the token is invalid.
    refresh: bool = True
    #: Follow same-origin redirects, signed anew (only where the HTTP library would otherwise
    #: follow them with the old headers); otherwise a redirect is returned as the answer.
    follow_redirects: bool = False


class Attempt:
    """One request to send: the request as built, and the headers the signer adds to it."""

    __slots__ = ("request", "signature", "token")

    def __init__(
        self, request: Request, signature: Mapping[str, str], token: Token | None
    ) -> None:
        self.request = request
        self.signature = signature
        self.token = token

    def __repr__(self) -> str:
        return f"<Attempt {self.request!r} signature={sorted(self.signature)}>"


@attrs.frozen
class Result:
    """The answer the flow ended on, and how it was judged."""

    response: Response
    verdict: Verdict


Flow = Generator[Attempt, Response, Result]


def auth_flow(
    binding: Credentials,
    request: Request,
    policy: Policy,
    *,
    tokens: TokenManager | None = None,
    token: Token | None = None,
) -> Flow:
    """The flow for ``request``. With ``tokens``, each attempt signs with the manager's current
    token (refreshed as its windows say); without, with ``token`` as given (a token flow's own
    calls, which must not recurse into the manager)."""
    binding.check_origin(request)
    check_headers(request.headers)

    retries_left = policy.retries if request.method in IDEMPOTENT else 0
    refreshed = skew_fixed = False
    connection_failures = hops = 0
    while True:
        if tokens is not None:
            token = tokens.current()
        signature: Mapping[str, str] = {}
        if policy.sign:
            signature = binding.signature_headers(request, token)
            check_headers(signature, made_by=f"{binding.signer_name!r} signer")
        attempt = Attempt(request, signature, token)
        # Held by the attempt (whose repr names headers only), not by a variable of this
        # frame, which an error raised here shows to reports of a traceback's variables.
        del signature
        try:
            response = yield attempt
        except TransportError as failure:
            if retries_left <= 0 or isinstance(failure, DeadlineError):
                raise
            retries_left -= 1
            connection_failures += 1
            logger(LOGGER).info("%s %s: connection failed, retry %d", request.method,
                                request.path, connection_failures)
            binding.clock.sleep(min(0.2 * 2 ** (connection_failures - 1), 2.0))
            continue
        status = response.status
        if 200 <= status < 300:
            return Result(response, OK)
        if status in REDIRECTS and policy.follow_redirects:
            following = redirected(binding, response)
            if following is not None:
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise ResponseError(
                        f"{request.method} {request.path}: more than {MAX_REDIRECTS} redirects",
                        status=status,
                    )
                request = following
                continue
        verdict = binding.interpret(response)
        outcome = verdict.outcome
        if (
            outcome is Outcome.TOKEN_INVALID and policy.refresh and tokens is not None
            and token is not None and not refreshed
        ):
            refreshed = True
            logger(LOGGER).info("%s: token rejected, refreshing once", binding.label)
            tokens.invalidate(token)
            continue
        if outcome is Outcome.CLOCK_SKEW and not skew_fixed and binding.learn_skew(response):
            skew_fixed = True
            continue
        return Result(response, verdict)


def redirected(binding: Credentials, response: Response) -> Request | None:
    """The request a redirect asks for, or ``None`` without a ``Location``.

    The method and body change as browsers and HTTP libraries do (RFC 9110 §15.4): 303 turns
    anything but HEAD into GET, 301 and 302 turn POST into GET, and only 307 and 308 keep the
    body.  A target on another origin is refused: the request carries credentials.
    """
    location = response.headers.get("Location")
    if not location:
        return None
    from urllib.parse import urljoin

    previous = response.request
    following = same_origin_target(previous, urljoin(previous.url, location))
    method = previous.method
    status = response.status
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method = "GET"
    keep_body = status in (307, 308)
    headers = previous.headers
    if not keep_body and previous.body is not None:
        headers = {k: v for k, v in headers.items()
                   if k.lower() not in ("content-type", "content-length")}
    return Request(method, following.scheme, following.host, following.path, following.params,
                   headers, previous.body if keep_body else None)


def same_origin_target(previous: Request, target: str, method: str | None = None) -> Request:
    """``target`` as a request (no headers, no body) if it has ``previous``'s origin; a
    redirect elsewhere is refused, as the request carries credentials."""
    try:
        following = Request.from_url(method or previous.method, target)
    except ValueError:
        following = None
    if following is not None and (following.scheme, following.host) == (previous.scheme,
                                                                         previous.host):
        return following
    shown = _printable(target.split("?")[0] if following is None
                       else f"{following.scheme}://{following.host}")
    raise OriginError(
        f"{previous.method} {previous.path} was redirected to another origin ({shown}); "
        "the redirect was not followed, so the request's credentials went nowhere else",
        origin=shown,
        hint="call the new location yourself if you trust it (add its origin to the "
        "profile's allowed_origins), or ask the broker why it redirects",
    )


def resign(binding: Credentials, attempt: Attempt, method: str, url: str,
           body: bytes | None) -> Attempt:
    """``attempt`` redirected by an HTTP library to ``method url``: signed anew for it with the
    same token, if it stays on the origin (else :class:`OriginError`)."""
    hop = same_origin_target(attempt.request, url, method)
    request = Request(hop.method, hop.scheme, hop.host, hop.path, hop.params, {}, body)
    signature = binding.signature_headers(request, attempt.token)
    check_headers(signature, made_by=f"{binding.signer_name!r} signer")
    return Attempt(request, signature, attempt.token)


def _printable(text: str) -> str:
    # A Location comes from the server: keep what a terminal shows as it is, and cut it.
    cleaned = "".join(c for c in text if c.isprintable() and c.isascii())
    return cleaned if len(cleaned) <= 100 else cleaned[:100] + "..."


def run(flow: Flow, send: Callable[[Attempt], Response]) -> Result:
    """Drive ``flow`` with a blocking ``send``: the session's and the token flows' driver."""
    attempt = next(flow)
    while True:
        try:
            response = send(attempt)
        except TransportError as exc:
            attempt = flow.throw(exc)
            continue
        try:
            attempt = flow.send(response)
        except StopIteration as stop:
            result: Result = stop.value
            return result
