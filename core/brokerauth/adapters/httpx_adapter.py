"""brokerauth as an ``httpx.Auth`` for sync and async clients.

Obtaining or refreshing a token is blocking I/O (the token manager's locks and store); the
async flow runs it in a worker thread so the event loop never blocks.  A fresh token held in
memory is served on the loop, as is the judging of a successful answer (which touches no token):
only a request whose token must be read, obtained or refreshed, and an answer that is not a
success (it may ask for a refresh), go to a thread.

A client with ``follow_redirects=True`` follows redirects inside httpx, past the auth flow, with
every header but ``Authorization`` copied and, on 307 and 308, the body.  So each request this
adapter signs carries a ``trace`` extension (httpx hands it to the transport on every hop) that
looks at each hop just before its headers are written: the hop the flow signed passes; a hop
httpx made by following a redirect is signed anew when it stays on the origin, and refused
with :class:`~brokerauth.contract.errors.OriginError` when it leaves it, before a byte is sent
there. The extension is called by httpx's own HTTP transport (httpcore); a custom transport that
does not call it gets the refusal of cross-origin requests the flow makes, not this per-hop check.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any

from brokerauth.adapters.extras import missing_extra

try:
    import anyio.to_thread
    import httpx
except ModuleNotFoundError as exc:  # the [httpx] extra is not installed
    raise missing_extra(exc, "httpx", ("httpx", "anyio", "httpcore")) from None

from brokerauth.adapters.signer import AdapterCore
from brokerauth.contract.errors import ResponseError
from brokerauth.contract.wire import Response, netloc
from brokerauth.engine.authflow import REDIRECTS, Attempt, Flow
from brokerauth.engine.transport import _too_large as too_large

_HopKey = tuple[str, str, str]


def _hop_of(method: bytes | str, scheme: bytes, host: bytes, port: int | None,
            target: bytes) -> tuple[_HopKey, str]:
    """A hop's identity (method, origin, target) and its absolute URL (a hop to a forwarding
    proxy, in absolute-form, is refused before this)."""
    text = scheme.decode("ascii")
    origin = _origin(text, host.decode("ascii"), port)
    path = target.decode("ascii")
    verb = method.decode("ascii") if isinstance(method, bytes) else method
    return (verb.upper(), origin, path), origin + path


def _origin(scheme: str, host: str, port: int | None) -> str:
    return f"{scheme}://{netloc(scheme, host, port)}"


def _authority_form(target: bytes) -> bool:
    """Whether ``target`` is ``host:port`` (RFC 9112 3.2.3, a CONNECT's only form): no path,
    no scheme."""
    return b"/" not in target and b"?" not in target and b":" in target


#: How a signer's header names are appended to httpx's list, by the names in the signer's
#: order: each name as sent and lower-cased (httpx keeps both), and the lower-cased names as a
#: set; ``None`` when two names differ only in case (the setter then decides).  A signer makes
#: the same few names for every request.  Names are ASCII tokens (checked), the same in any
#: encoding.
_Plan = tuple[tuple[tuple[bytes, bytes], ...], frozenset[bytes]] | None
_PLANS: dict[tuple[str, ...], _Plan] = {}


def _plan(names: tuple[str, ...]) -> _Plan:
    encoded = tuple((key, key.lower()) for key in (name.encode("ascii") for name in names))
    lowered = frozenset(lower for _, lower in encoded)
    plan = (encoded, lowered) if len(lowered) == len(encoded) else None
    if len(_PLANS) < 256:  # bounded, whatever names a signer makes
        _PLANS[names] = plan
    return plan


def _is_entry(entry: object) -> bool:
    """Whether ``entry`` is one of ``Headers._list``'s as httpx 0.24 to 0.28 keep them:
    ``(raw name, lower-cased name, value)``, all bytes."""
    return (type(entry) is tuple and len(entry) == 3 and type(entry[0]) is bytes
            and type(entry[1]) is bytes and type(entry[2]) is bytes)


def _layout_known() -> bool:
    """Whether this httpx keeps its headers as :func:`_is_entry` says (checked once, on a
    header set made here): otherwise only its public setter is used."""
    entries = getattr(httpx.Headers({"X-Probe": "1"}), "_list", None)
    return (type(entries) is list and len(entries) == 1 and _is_entry(entries[0])
            and entries[0] == (b"X-Probe", b"x-probe", b"1"))


_LAYOUT_KNOWN = _layout_known()


def _add_headers(headers: httpx.Headers, signature: Mapping[str, str]) -> None:
    """``signature`` set in ``headers``, each replacing any header of its name.

    Setting a header makes httpx encode it and scan every header already there, about a
    microsecond each, and a signature has half a dozen: when none of their names is there yet
    (the common case: a caller seldom sends a header the signer makes), the entries are
    appended to the list Headers keeps, as its own setter would append them, with the names
    encoded once per set of names (:data:`_PLANS`); otherwise the setter replaces them one by
    one.  The list is written only when it is laid out as the httpx versions this was tested
    with lay it out (:func:`_is_entry`)."""
    entries = getattr(headers, "_list", None)
    # The first entry checked as _is_entry checks it, inlined: this runs for every request.
    if (type(headers) is httpx.Headers and type(entries) is list and _LAYOUT_KNOWN
            and (not entries or (type(first := entries[0]) is tuple and len(first) == 3
                                 and type(first[0]) is bytes and type(first[1]) is bytes
                                 and type(first[2]) is bytes))):
        names = tuple(signature)
        plan = _PLANS[names] if names in _PLANS else _plan(names)
        if plan is not None and plan[1].isdisjoint([entry[1] for entry in entries]):
            encoding = headers._encoding or "utf-8"  # what __setitem__ encodes values with
            entries.extend([(raw, lower, value.encode(encoding))
                            for (raw, lower), value in zip(plan[0], signature.values(),
                                                           strict=True)])
            return
    for name, value in signature.items():
        headers[name] = value


class _Hops:
    """The signature of one request across the hops httpx sends it on."""

    __slots__ = ("_first", "attempt", "content", "core", "extensions", "first_raw", "left",
                 "method", "previous_trace", "signed_first", "tunnelling")

    def __init__(self, core: AdapterCore, request: httpx.Request, attempt: Attempt) -> None:
        self.core = core
        method = self.method = request.method
        self.content = request.content
        url = request.url
        #: The first hop as httpcore will describe it (method, scheme, host, port, target),
        #: compared as is; its normalised key is made only for a hop that is not it.
        self.first_raw = (method.encode("ascii"), url.raw_scheme, url.raw_host, url.port,
                          url.raw_path)
        self._first: _HopKey | None = None
        self.attempt = attempt
        self.signed_first = False
        previous = request.extensions.get("trace")
        if previous is not None:
            owner = getattr(previous, "__self__", None)
            if isinstance(owner, _Hops):
                # A request httpx built from an earlier one (``response.next_request``)
                # carries that request's guard: this one replaces it, keeping the caller's
                # own trace.
                previous = owner.previous_trace
        self.previous_trace: Callable[..., Any] | None = previous
        #: The extensions of the hop being sent (httpcore's request shares httpx's dict).
        self.extensions: dict[str, Any] | None = None
        #: Whether the hop last sent is a proxy's CONNECT (its answer is not the request's).
        self.tunnelling = False
        #: What is left to do once the flow ended (:meth:`AdapterCore.ended`).
        self.left: Callable[[], None] | None = None

    @property
    def first(self) -> _HopKey:
        if self._first is None:
            method, scheme, host, port, target = self.first_raw
            self._first, _ = _hop_of(method, scheme, host, port, target)
        return self._first

    def apply(self, request: httpx.Request, attempt: Attempt, previous: Attempt | None) -> None:
        headers = request.headers
        if previous is not None:
            for name in previous.signature:
                headers.pop(name, None)
        _add_headers(headers, attempt.signature)
        self.attempt = attempt
        self.signed_first = True

    def unsign(self, response: httpx.Response) -> None:
        """The flow ended on ``response``: a redirect httpx did not follow has the next hop's
        request built from the signed one (``response.next_request``), its signature copied
        but ``Authorization``; it loses it, so that a next request the caller sends by hand,
        or whose headers it copies, carries no credential (this adapter signs it anew when
        sent through it)."""
        following = response.next_request
        if following is not None:
            headers = following.headers
            for name in self.attempt.signature:
                headers.pop(name, None)

    def check(self, info: dict[str, Any]) -> None:
        """A hop's headers are about to be written (``send_request_headers.started``): the
        hop the flow signed passes, a redirect httpx follows is signed anew on the origin and
        refused off it."""
        hop = info["request"]
        self.extensions = hop.extensions  # httpx's own, for settle
        self.tunnelling = False
        if self.signed_first:
            url = hop.url
            if (hop.method, url.scheme, url.host, url.port, url.target) == self.first_raw:
                self.signed_first = False  # the request as the flow signed it
                return
        self._other_hop(hop)

    def _other_hop(self, hop: Any) -> None:
        """:meth:`check` for a hop that is not the signed request's raw parts as they were."""
        url = hop.url
        if hop.method == b"CONNECT" and _authority_form(url.target):
            # httpcore opening a tunnel through an HTTPS proxy (it hands the CONNECT the
            # request's extensions): no hop of the request, which follows in the tunnel.
            self.tunnelling = True
            return
        if url.target[:4].lower() == b"http":
            # Absolute-form: the hop goes to a forwarding proxy (HTTP_PROXY, ALL_PROXY, or the
            # client's proxy=), which reads it whole: never a signed request.
            target = httpx.URL(url.target.decode("ascii"))
            origin = _origin(target.scheme, target.host, target.port)
            if origin != self.first[1]:  # a redirect elsewhere is refused as that first
                self.core.resign(self.attempt, hop.method.decode("ascii"), str(target), None)
            raise self.core.through_proxy(
                origin, _origin(url.scheme.decode("ascii"), url.host.decode("ascii"), url.port))
        key, absolute = _hop_of(hop.method, url.scheme, url.host, url.port, url.target)
        if key == self.first and self.signed_first:
            self.signed_first = False  # the request as the flow signed it
            return
        # A hop httpx made itself, by following a redirect: the body goes along only when
        # the method stayed (httpx drops it when it turns the request into a GET).
        body = self.content if key[0] == self.method else None
        attempt = self.core.resign(self.attempt, key[0], absolute, body)
        stale = {name.lower().encode("ascii") for name in self.attempt.signature}
        hop.headers[:] = [(k, v) for k, v in hop.headers if k.lower() not in stale] + [
            (k.encode("ascii"), v.encode("latin-1")) for k, v in attempt.signature.items()
        ]
        self.attempt = attempt

    def settle(self, info: dict[str, Any]) -> None:
        """The answer's status is in: unless it is a redirect, which httpx may follow with
        another hop to check, this attempt has no hop left to check, so the trace is handed
        back to the caller's own (or removed) for the rest of its events, which then cost
        nothing.  httpcore's request holds httpx's own extensions; a resend puts it back."""
        if self.tunnelling:  # the proxy's answer to CONNECT: the request is still to come
            self.tunnelling = False
            return
        answer = info.get("return_value")
        # HTTP/1.1: (version, status, reason, headers); HTTP/2: (status, headers).
        status = None
        if type(answer) is tuple and answer:
            if type(answer[0]) is int:
                status = answer[0]
            elif len(answer) > 1 and type(answer[1]) is int:
                status = answer[1]
        if status is None or status in REDIRECTS:
            return
        extensions = self.extensions
        if extensions is not None:
            trace = extensions.get("trace")
            if trace is not None and getattr(trace, "__self__", None) is self:
                if self.previous_trace is None:
                    del extensions["trace"]
                else:
                    extensions["trace"] = self.previous_trace

    # httpcore calls the trace about ten times per request (six until settle removes it): the
    # tests for the two events that matter are made here, before any further call.
    def sync_trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_headers.started"):
            self.check(info)
        elif event.endswith(".receive_response_headers.complete"):
            self.settle(info)
        if self.previous_trace is not None:
            self.previous_trace(event, info)

    async def async_trace(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_headers.started"):
            self.check(info)
        elif event.endswith(".receive_response_headers.complete"):
            self.settle(info)
        if self.previous_trace is not None:
            await self.previous_trace(event, info)


def _declared_over(response: httpx.Response, limit: int) -> int | None:
    """The answer's declared length when it is over ``limit``."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return int(declared)
    return None


def _keep(response: httpx.Response, chunks: list[bytes]) -> None:
    """The body read in ``chunks`` kept as ``response.content``, as ``read()`` keeps it."""
    response._content = b"".join(chunks)


class BrokerAuthHttpx(httpx.Auth):
    def __init__(self, profile: Any, **session_options: Any) -> None:
        # httpx follows redirects past the flow; the trace extension above guards those hops.
        self.core = AdapterCore(profile, follow_redirects=False, **session_options)

    def _start(self, request: httpx.Request) -> tuple[Flow, _Hops]:
        flow, attempt = self.core.start(request.method, str(request.url), request.content)
        return flow, self._hops(request, attempt)

    def _hops(self, request: httpx.Request, attempt: Attempt) -> _Hops:
        hops = _Hops(self.core, request, attempt)
        _add_headers(request.headers, attempt.signature)
        hops.signed_first = True
        return hops

    def _too_large(self, hops: _Hops, response: httpx.Response, limit: int,
                   declared: int | None = None) -> ResponseError:
        return too_large(hops.attempt.request, response.status_code, limit,
                         "the profile's max_response_bytes", declared=declared)

    def _read_error(self, hops: _Hops, response: httpx.Response) -> None:
        """A non-success answer's body, which the flow judges, read up to the profile's
        ``max_response_bytes`` (counted after decompression, as the transport counts it); a
        larger one is a :class:`ResponseError`, as the transport's own answers are."""
        limit = self.core.session.options.max_response_bytes
        declared = _declared_over(response, limit)
        if declared is not None:
            response.close()  # unread: its connection is dropped, not drained
            raise self._too_large(hops, response, limit, declared)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                response.close()
                raise self._too_large(hops, response, limit)
            chunks.append(chunk)
        _keep(response, chunks)

    async def _aread_error(self, hops: _Hops, response: httpx.Response) -> None:
        """:meth:`_read_error` for an async client."""
        limit = self.core.session.options.max_response_bytes
        declared = _declared_over(response, limit)
        if declared is not None:
            await response.aclose()
            raise self._too_large(hops, response, limit, declared)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                await response.aclose()
                raise self._too_large(hops, response, limit)
            chunks.append(chunk)
        _keep(response, chunks)

    def _judge(self, flow: Flow, hops: _Hops, response: httpx.Response) -> Attempt | None:
        status = response.status_code
        attempt = hops.attempt
        # The flow's answer, made here rather than by AdapterCore.answer: once per request.
        answer = Response(status, response.headers,
                          b"" if 200 <= status < 300 else response.content, attempt.request,
                          attempt.signature)
        try:
            return flow.send(answer)
        except StopIteration as end:
            hops.left = self.core.ended(end.value)
            return None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        flow, hops = self._start(request)
        extensions = request.extensions
        while True:
            extensions["trace"] = hops.sync_trace
            response = yield request
            if not 200 <= response.status_code < 300:
                self._read_error(hops, response)
            following = self._judge(flow, hops, response)
            if following is None:
                hops.unsign(response)
                if hops.left is not None:
                    hops.left()
                return
            hops.apply(request, following, hops.attempt)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        started = self.core.start_nowait(request.method, str(request.url), request.content)
        if started is None:  # the token must be read, obtained or refreshed: that may block
            flow, hops = await anyio.to_thread.run_sync(self._start, request)
        else:
            flow, hops = started[0], self._hops(request, started[1])
        extensions = request.extensions
        while True:
            extensions["trace"] = hops.async_trace
            response = yield request
            if 200 <= response.status_code < 300:  # the flow ends on it, touching no token
                following = self._judge(flow, hops, response)
            else:  # it may ask for a refresh, or sleep before a resend
                await self._aread_error(hops, response)
                following = await anyio.to_thread.run_sync(self._judge, flow, hops, response)
            if following is None:
                hops.unsign(response)
                if hops.left is not None:  # a store write: off the event loop
                    await anyio.to_thread.run_sync(hops.left)
                return
            hops.apply(request, following, hops.attempt)
