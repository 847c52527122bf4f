"""Webull's trade-events gRPC stream, authenticated by a brokerauth session (the ``[grpc]``
extra: ``pip install 'brokerauth-webull[grpc]'``).

Two ways in::

    import brokerauth
    from brokerauth_webull.grpc_auth import EventsAuth, TradeEvents

    with brokerauth.session("webull") as api, TradeEvents(api) as events:
        for event in events.subscribe(["ACCOUNT_ID"]):       # SubscribeResponse objects
            ...

    # or a channel of your own (options, your stubs generated from events.proto):
    channel = grpc.intercept_channel(grpc.secure_channel(target, grpc.ssl_channel_credentials()),
                                     EventsAuth(api))

:class:`EventsAuth` is a client interceptor.  Every call is signed anew (a fresh nonce and
timestamp, the session's learned clock offset applied) over the exact serialized request,
with the ``webull-grpc`` signer (:mod:`brokerauth_webull.grpc_signing`); the session's 2FA
token is attached as ``x-access-token`` when the profile uses one.  The metadata travels as
*call credentials*, which gRPC gives only to a secure channel (TLS, or its local credentials
on loopback) and hands over only after this module has checked the call's real target: the
profile's events origin (``events_url``, or the environment's ``events-api`` host) and no
other gets them — a call anywhere else fails before anything is sent.  A call the server
refuses for its timestamp (trailing ``error-code`` ``CLOCK_SKEW_EXCEEDED`` and a ``date``)
teaches the session the server's clock, and is made once more, signed anew, as over HTTP;
it happens before any event has arrived, so nothing is received twice.  Nothing is printed.

Only server-streaming calls (the events service has no other kind) are intercepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import grpc
from brokerauth.contract.errors import ConfigError, OriginError
from brokerauth.contract.wire import Request, Response
from brokerauth.engine.binding import new_nonce
from brokerauth.engine.origins import Origin, origin_text, parse_origin
from brokerauth.toolkit.secrets import Secret

from brokerauth_webull import codes, grpc_signing
from brokerauth_webull.events_messages import METHOD, SubscribeRequest, SubscribeResponse
from brokerauth_webull.hmac_headers import timestamp

if TYPE_CHECKING:
    from brokerauth.engine.sessions import Session

#: The trailing metadata a refusal carries (the sandbox's; see :mod:`..sandbox.events`).
ERROR_CODE: Final = "error-code"
DATE: Final = "date"


class EventsAuth(grpc.UnaryStreamClientInterceptor):
    """Signs every server-streaming call with ``session``'s profile, for its events origin
    only.

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
        """The one origin this interceptor's calls may carry credentials to."""
        return origin_text(self._origin)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        return _SignedStream(self, continuation, client_call_details, request)

    # -- internals ---------------------------------------------------------------------------
    def metadata(self, body: bytes) -> list[tuple[str, str]]:
        """The signed metadata for a call whose serialized request is ``body``, now."""
        session = self._session
        binding = session.binding
        token = session.tokens.current()
        settings = binding.settings
        now = binding.clock.now()
        if binding.skew:
            now += binding.skew
        return grpc_signing.metadata(
            _reveal(settings.app_key), _reveal(settings.app_secret), timestamp(now),
            new_nonce(), body, settings.signature_algorithm,
            None if token is None else token.access_token,
        )

    def call_details(self, details: grpc.ClientCallDetails, request: Any) -> _CallDetails:
        signed = grpc.metadata_call_credentials(
            _Metadata(self.metadata(serialize(request)), self._origin, self._session.binding.label),
            name="brokerauth-webull",
        )
        credentials = details.credentials
        if credentials is not None:
            signed = grpc.composite_call_credentials(credentials, signed)
        return _CallDetails(details, signed)

    def learn_skew(self, error: grpc.RpcError) -> bool:
        """Adopt the server's clock from a timestamp refusal; whether it was one."""
        code = getattr(error, "code", None)
        trailing = getattr(error, "trailing_metadata", None)
        if code is None or trailing is None or code() is not grpc.StatusCode.UNAUTHENTICATED:
            return False
        found = {key: value for key, value in (trailing() or ()) if isinstance(value, str)}
        if found.get(ERROR_CODE) not in codes.CLOCK_SKEW_CODES or not found.get(DATE):
            return False
        scheme, host = self._origin
        request = Request("POST", scheme, host, METHOD)
        return self._session.binding.learn_skew(
            Response(401, {"Date": found[DATE]}, b"", request)
        )


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
        scheme, host = self.auth._origin
        default_port = 443 if scheme == "https" else 80
        target = host if urlsplit(f"//{host}").port else f"{host}:{default_port}"
        if scheme == "https":
            channel_credentials = grpc.ssl_channel_credentials(root_certificates)
        else:  # a loopback origin: the profile's origin check refused any other over http
            channel_credentials = grpc.local_channel_credentials(
                grpc.LocalConnectionType.LOCAL_TCP)
        self._raw = grpc.secure_channel(target, channel_credentials, options=list(options))
        self.channel: grpc.Channel = grpc.intercept_channel(self._raw, self.auth)

    def subscribe(
        self,
        accounts: Iterable[str],
        *,
        subscribe_type: int = 1,
        timeout: float | None = None,
    ) -> Iterator[SubscribeResponse]:
        """``Subscribe`` for ``accounts``: the stream of events (a ``grpc.Call`` too: cancel
        it to stop).  Refusals raise ``grpc.RpcError`` (``UNAUTHENTICATED``) when iterated."""
        binding = self._session.binding
        now = binding.clock.now()
        if binding.skew:
            now += binding.skew
        request = SubscribeRequest(subscribe_type=subscribe_type,
                                   timestamp=int(now.timestamp() * 1000),
                                   accounts=tuple(accounts))
        call = self.channel.unary_stream(
            METHOD,
            request_serializer=SubscribeRequest.SerializeToString,
            response_deserializer=SubscribeResponse.FromString,
        )
        stream: Iterator[SubscribeResponse] = call(request, timeout=timeout)
        return stream

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> TradeEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<TradeEvents {self.auth.origin}>"


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
    """One call's signed metadata, given only to a call going to ``allowed``."""

    def __init__(self, metadata: list[tuple[str, str]], allowed: Origin, label: str) -> None:
        self._metadata = tuple(metadata)
        self._allowed = allowed
        self._label = label

    def __repr__(self) -> str:
        return f"<signed metadata for {origin_text(self._allowed)}>"

    def __call__(
        self,
        context: grpc.AuthMetadataContext,
        callback: grpc.AuthMetadataPluginCallback,
    ) -> None:
        target = call_origin(context.service_url)
        if target == self._allowed:
            callback(self._metadata, None)
            return
        shown = "an unknown origin" if target is None else origin_text(target)
        callback((), OriginError(
            f"{self._label}: a gRPC call to {shown} is outside the profile's events origin "
            f"({origin_text(self._allowed)}); no credentials were sent",
            origin=shown,
        ))


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
    """The stream a signed call returns: the call itself, made once more (signed anew) after
    a timestamp refusal that arrived before any event."""

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
        self._call = self._start()

    def _start(self) -> Any:
        return self._continuation(self._auth.call_details(self._details, self._request),
                                  self._request)

    def __iter__(self) -> _SignedStream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                item = next(self._call)
            except grpc.RpcError as error:
                if self._received or self._resent or not self._auth.learn_skew(error):
                    raise
                self._resent = True
                self._call = self._start()
                continue
            self._received = True
            return item

    def __getattr__(self, name: str) -> Any:
        # cancel(), code(), details(), trailing_metadata(), add_callback(), ...: the call's.
        return getattr(self._call, name)

    def __repr__(self) -> str:
        return f"<signed gRPC stream to {self._auth.origin}>"


def _reveal(value: object) -> str:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, str):
        return value
    raise ConfigError("the webull-grpc signer needs app_key and app_secret as secrets")
