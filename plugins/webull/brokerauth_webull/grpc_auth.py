"""Webull's trade-events gRPC stream, authenticated by a brokerauth session (the ``[grpc]``
extra: ``pip install 'brokerauth-webull[grpc]'``).

Two ways in::

    import brokerauth
    from brokerauth_webull.grpc_auth import EventsAuth, TradeEvents

    with brokerauth.session("webull") as api, TradeEvents(api) as events:
        for event in events.subscribe(["ACCOUNT_ID"]):       # SubscribeResponse objects
            ...

    # or your own stubs (generated from events.proto) and channel options:
    with EventsAuth(api).channel(options=[("grpc.keepalive_time_ms", 30_000)]) as channel:
        stub = EventServiceStub(channel)

The credentials reach only a channel brokerauth built itself, to the profile's events
origin (``events_url``, or the environment's ``events-api`` host) and no other: TLS (the
system's roots, or ``root_certificates``) for an ``https`` origin, gRPC's local credentials
for a loopback ``http`` one (a sandbox).  gRPC tells call credentials only the call's
``:authority``, never where the channel connects, and the ``grpc.default_authority`` and
``grpc.ssl_target_name_override`` options set that authority (and the name TLS checks) to
anything on a channel that connects elsewhere; so the channel's target is brokerauth's, those
two options are refused, and :class:`EventsAuth` is not an interceptor a channel of one's own
could be wrapped in (``grpc.intercept_channel(channel, EventsAuth(api))`` is a
``TypeError``).  The call's ``:authority`` is checked against the origin all the same before
anything is signed.  Call credentials are given only to a secure channel.

Each *attempt* is signed (a fresh nonce and timestamp, the session's learned clock offset
applied) over the exact serialized request, with the ``webull-grpc`` signer
(:mod:`brokerauth_webull.grpc_signing`), just before gRPC sends it: a retry policy's attempts,
or a call that waited for the channel (``wait_for_ready``), are signed at their own time.
The session's 2FA token is attached as ``x-access-token`` when the profile uses one.  A call
the server refuses for its timestamp (trailing ``error-code`` ``CLOCK_SKEW_EXCEEDED`` and a
``date``: the sandbox's format, Webull's is not in the public record) teaches the session
the server's clock, and is made once more, its ``SubscribeRequest.timestamp`` computed again
and signed anew, as over HTTP; it happens before any event has arrived, so nothing is
received twice, and ``add_callback`` callbacks run once, when the call that is kept ends.
Nothing is printed.

Only server-streaming calls (the events service has no other kind) are signed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import grpc
from brokerauth.contract.errors import ConfigError, OriginError
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.binding import new_nonce
from brokerauth.engine.origins import Origin, origin_text, parse_origin
from brokerauth.engine.refresh import NotAtHand
from brokerauth.toolkit.secrets import Secret

from brokerauth_webull import codes, grpc_signing
from brokerauth_webull.events_messages import METHOD, SubscribeRequest, SubscribeResponse
from brokerauth_webull.hmac_headers import timestamp

if TYPE_CHECKING:
    from brokerauth.contract.tokens import Token
    from brokerauth.engine.sessions import Session

#: The trailing metadata a refusal carries (the sandbox's; see :mod:`..sandbox.events`).
ERROR_CODE: Final = "error-code"
DATE: Final = "date"

#: Channel options that would make a call's ``:authority`` (what call credentials are told)
#: or the name TLS checks differ from where the channel connects.
AUTHORITY_OPTIONS: Final = frozenset({"grpc.default_authority", "grpc.ssl_target_name_override"})
#: Options a loopback (plaintext, local credentials) channel may not set: a proxy would read it.
LOOPBACK_OPTIONS: Final = frozenset({"grpc.http_proxy", "grpc.enable_http_proxy"})


class EventsAuth:
    """Signs the server-streaming calls of the channels it builds (:meth:`channel`) with
    ``session``'s profile, for its events origin only.

    :raises ~brokerauth.contract.errors.ConfigError: the profile names no events origin (a
        test environment, or ``base_url`` without ``events_url``).
    """

    def __init__(self, session: Session) -> None:
        binding = session.binding
        settings = binding.settings
        origin = getattr(settings, "events_origin", None)
        if not isinstance(origin, str):
            raise ConfigError(
                f"{binding.label}: the profile has no trade-events origin",
                hint="set events_url in the profile (e.g. \"https://events-api.webull.com\" "
                "or a sandbox's), or use an environment that has one",
            )
        self._origin: Origin = parse_origin(origin)
        if self._origin not in binding.origins:
            raise OriginError(
                f"{binding.label}: {origin} is not one of the profile's origins",
                origin=origin,
                hint="events_url must be an origin of the profile",
            )
        self._session = session

    @property
    def origin(self) -> str:
        """The one origin this object's channels connect to and sign calls for."""
        return origin_text(self._origin)

    @property
    def target(self) -> str:
        """The gRPC target of :attr:`origin` (``host:port``)."""
        scheme, host = self._origin
        default_port = 443 if scheme == "https" else 80
        return host if urlsplit(f"//{host}").port else f"{host}:{default_port}"

    def channel(
        self,
        *,
        root_certificates: bytes | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> grpc.Channel:
        """A channel to :attr:`target` whose server-streaming calls are signed: TLS (the
        system's roots, or ``root_certificates``) for an ``https`` origin, gRPC's local
        credentials for a loopback ``http`` one.  ``options`` are gRPC channel options,
        except those that set the call's authority or the name TLS checks (and, on loopback,
        a proxy).  Close it, or use ``with``.

        :raises ~brokerauth.contract.errors.ConfigError: such an option was given.
        """
        scheme, _ = self._origin
        refused = AUTHORITY_OPTIONS if scheme == "https" else AUTHORITY_OPTIONS | LOOPBACK_OPTIONS
        given = [(str(name), value) for name, value in options]
        bad = sorted({name for name, _ in given if name in refused})
        if bad:
            raise ConfigError(
                f"{self._session.binding.label}: the channel option(s) {', '.join(bad)} would "
                f"let a channel's calls name {self.origin} while connecting elsewhere",
                hint="leave them out: brokerauth connects to the profile's events origin "
                "itself",
            )
        if scheme == "https":
            credentials = grpc.ssl_channel_credentials(root_certificates)
        else:  # a loopback origin: the profile's origin check refused any other over http
            credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
            given.append(("grpc.enable_http_proxy", 0))
        raw = grpc.secure_channel(self.target, credentials, options=given)
        return grpc.intercept_channel(raw, _Interceptor(self))

    # -- internals ---------------------------------------------------------------------------
    def metadata(self, body: bytes, token: Token | None = None) -> list[tuple[str, str]]:
        """The signed metadata for a call whose serialized request is ``body``, now (with
        ``token``'s access token, if any)."""
        binding = self._session.binding
        settings = binding.settings
        return grpc_signing.metadata(
            _reveal(settings.app_key), _reveal(settings.app_secret), timestamp(self.now()),
            new_nonce(), body, settings.signature_algorithm,
            None if token is None else token.access_token,
        )

    def now(self) -> Any:
        """The session's clock with its learned offset."""
        binding = self._session.binding
        now = binding.clock.now()
        if binding.skew:
            now += binding.skew
        return now

    def call_details(self, details: grpc.ClientCallDetails, request: Any) -> _CallDetails:
        """``details`` with call credentials that sign each attempt of the call."""
        # The token is had here, in the caller's thread (a login or refresh error is the
        # caller's); each attempt takes a fresher one if it is at hand.
        plugin = _Metadata(self, serialize(request), self._session.tokens.current())
        signed = grpc.metadata_call_credentials(plugin, name="brokerauth-webull")
        credentials = details.credentials
        if credentials is not None:
            signed = grpc.composite_call_credentials(credentials, signed)
        return _CallDetails(details, signed)

    def attempt_token(self, fallback: Token | None) -> Token | None:
        try:
            return self._session.tokens.current_nowait()
        except NotAtHand:
            return fallback

    def refused_for_time(self, call: Any) -> str | None:
        """The server's ``date`` when ``call`` ended in a timestamp refusal, else None."""
        code = getattr(call, "code", None)
        trailing = getattr(call, "trailing_metadata", None)
        if code is None or trailing is None or code() is not grpc.StatusCode.UNAUTHENTICATED:
            return None
        found = {key: value for key, value in (trailing() or ()) if isinstance(value, str)}
        if found.get(ERROR_CODE) not in codes.CLOCK_SKEW_CODES:
            return None
        return found.get(DATE) or None

    def learn_skew(self, error: grpc.RpcError) -> bool:
        """Adopt the server's clock from a timestamp refusal; whether it was one."""
        date = self.refused_for_time(error)
        if date is None:
            return False
        scheme, host = self._origin
        request = Request("POST", scheme, host, METHOD)
        return self._session.binding.learn_skew(Response(401, {"Date": date}, b"", request))

    def refreshed(self, method: str, request: Any) -> Any:
        """``request`` to send again after a timestamp refusal: a ``Subscribe`` request's
        ``timestamp`` (milliseconds) computed again with the offset just learned."""
        if method != METHOD:
            return request
        millis = int(self.now().timestamp() * 1000)
        if isinstance(request, SubscribeRequest):
            return _evolve(request, timestamp=millis)
        if isinstance(request, bytes | bytearray) or not hasattr(request, "timestamp"):
            return request
        copy = getattr(request, "__deepcopy__", None)
        fresh = copy({}) if copy is not None else request
        fresh.timestamp = millis  # a protobuf message generated from events.proto
        return fresh

    def __repr__(self) -> str:
        return f"<EventsAuth {self.origin}>"


class _Interceptor(grpc.UnaryStreamClientInterceptor):
    """What :meth:`EventsAuth.channel` wraps its own channel in; not exported."""

    def __init__(self, auth: EventsAuth) -> None:
        self._auth = auth

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        return _SignedStream(self._auth, continuation, client_call_details, request)


class TradeEvents:
    """A channel to the profile's events origin, signed by :class:`EventsAuth`.

    TLS (with the system's roots, or ``root_certificates``) for an ``https`` origin; gRPC's
    local credentials for a loopback ``http`` one (a sandbox).  Close it, or use ``with``.
    """

    def __init__(
        self,
        session: Session,
        *,
        root_certificates: bytes | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._session = session
        self.auth = EventsAuth(session)
        self.channel: grpc.Channel = self.auth.channel(root_certificates=root_certificates,
                                                       options=options)

    def subscribe(
        self,
        accounts: Iterable[str],
        *,
        subscribe_type: int = 1,
        timeout: float | None = None,
    ) -> Iterator[SubscribeResponse]:
        """``Subscribe`` for ``accounts``: the stream of events (a ``grpc.Call`` too: cancel
        it to stop).  Refusals raise ``grpc.RpcError`` (``UNAUTHENTICATED``) when iterated."""
        request = SubscribeRequest(subscribe_type=subscribe_type,
                                   timestamp=int(self.auth.now().timestamp() * 1000),
                                   accounts=tuple(accounts))
        call = self.channel.unary_stream(
            METHOD,
            request_serializer=SubscribeRequest.SerializeToString,
            response_deserializer=SubscribeResponse.FromString,
        )
        stream: Iterator[SubscribeResponse] = call(request, timeout=timeout)
        return stream

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> TradeEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TradeEvents {self.auth.origin}>"


def _evolve(request: SubscribeRequest, **changes: Any) -> SubscribeRequest:
    import attrs

    return attrs.evolve(request, **changes)


def serialize(request: Any) -> bytes:
    """The bytes gRPC will send for ``request``: ``SerializeToString()`` (protobuf messages and
    :mod:`brokerauth_webull.events_messages` alike), or the bytes themselves."""
    if isinstance(request, bytes | bytearray):
        return bytes(request)
    serializer = getattr(request, "SerializeToString", None)
    if serializer is None:
        raise TypeError(
            f"cannot sign a {type(request).__name__}: give a protobuf message (anything with "
            "SerializeToString) or bytes"
        )
    body = serializer()
    if not isinstance(body, bytes):
        raise TypeError("SerializeToString() did not return bytes")
    return body


class _CallDetails(grpc.ClientCallDetails):
    """The caller's call details, with the signed call credentials."""

    def __init__(self, details: grpc.ClientCallDetails, credentials: grpc.CallCredentials) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = details.metadata
        self.credentials = credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _Metadata(grpc.AuthMetadataPlugin):
    """One call's signature: made for each attempt (gRPC asks just before sending it), and
    only for an attempt whose ``:authority`` is the events origin."""

    def __init__(self, auth: EventsAuth, body: bytes, token: Token | None) -> None:
        self._auth = auth
        self._body = body
        self._token = token

    def __repr__(self) -> str:
        return f"<signed metadata for {self._auth.origin}>"

    def __call__(
        self,
        context: grpc.AuthMetadataContext,
        callback: grpc.AuthMetadataPluginCallback,
    ) -> None:
        auth = self._auth
        allowed = auth._origin
        target = call_origin(context.service_url)
        if target != allowed:
            shown = "an unknown origin" if target is None else origin_text(target)
            callback((), OriginError(
                f"{auth._session.binding.label}: a gRPC call to {shown} is outside the "
                f"profile's events origin ({origin_text(allowed)}); nothing was signed or sent",
                origin=shown,
            ))
            return
        try:
            signed = auth.metadata(self._body, auth.attempt_token(self._token))
        except Exception as error:  # told to the caller as the call's error, never raised here
            callback((), ConfigError(
                f"{auth._session.binding.label}: the gRPC call could not be signed "
                f"({type(error).__name__})"))
            return
        callback(tuple(signed), None)


def call_origin(service_url: str) -> Origin | None:
    """The origin of a call from gRPC's ``service_url`` (``https://host[:port]/service``;
    gRPC's local credentials leave the scheme empty: plaintext on loopback, so ``http``)."""
    scheme, sep, rest = service_url.partition("://")
    if not sep:
        return None
    authority = rest.split("/", 1)[0]
    try:
        return parse_origin(f"{scheme or 'http'}://{authority}")
    except ValueError:
        return None


class _SignedStream:
    """The stream a signed call returns: the call itself, made once more (its request's
    timestamp computed again, each attempt signed anew) after a timestamp refusal that
    arrived before any event.  ``add_callback`` callbacks run once, when the call that is
    kept ends (not when a refused call that is made again ends)."""

    def __init__(
        self,
        auth: EventsAuth,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        details: grpc.ClientCallDetails,
        request: Any,
    ) -> None:
        self._auth = auth
        self._continuation = continuation
        self._details = details
        self._request = request
        self._received = False
        self._resent = False
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], object]] = []
        self._ended = False  # the user's callbacks have run (or are running)
        self._held: Any = None  # a refused call whose end is not yet the stream's
        self._call = self._start()

    def _start(self) -> Any:
        call = self._continuation(self._auth.call_details(self._details, self._request),
                                  self._request)
        self._call = call
        adder = getattr(call, "add_callback", None)
        if adder is None or not adder(lambda: self._on_done(call)):
            self._on_done(call)
        return call

    def _on_done(self, call: Any) -> None:
        with self._lock:
            if call is not self._call or self._ended:
                return
            if not self._resent and not self._received \
                    and self._auth.refused_for_time(call) is not None:
                self._held = call  # __next__ decides: made again, or the stream's end
                return
            self._ended = True
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def add_callback(self, callback: Callable[[], object]) -> bool:
        """Like ``grpc.RpcContext.add_callback``, for the stream: False once it has ended."""
        with self._lock:
            if self._ended:
                return False
            self._callbacks.append(callback)
            return True

    def __iter__(self) -> _SignedStream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                item = next(self._call)
            except grpc.RpcError as error:
                if self._received or self._resent or not self._auth.learn_skew(error):
                    self._release()
                    raise
                with self._lock:
                    self._resent = True
                    self._held = None
                self._request = self._auth.refreshed(self._details.method, self._request)
                self._start()
                continue
            self._received = True
            return item

    def _release(self) -> None:
        """The held refused call is the stream's end after all: run the callbacks."""
        with self._lock:
            held, self._held = self._held, None
            if held is None or held is not self._call or self._ended:
                return
            self._ended = True
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def __getattr__(self, name: str) -> Any:
        # cancel(), code(), details(), trailing_metadata(), ...: the current call's.
        return getattr(self._call, name)

    def __repr__(self) -> str:
        return f"<signed gRPC stream to {self._auth.origin}>"


def _reveal(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, str):
        return value
    raise ConfigError("the webull-grpc signer needs app_key and app_secret as secrets")
