"""A local emulator of Webull's trade-events gRPC service (``events-api``), beside the HTTP
sandbox whose apps, clock, nonces and 2FA tokens it shares.

``/grpc.trade.event.EventService/Subscribe`` (a server stream) is served on loopback with
gRPC's local credentials (plaintext TCP that gRPC itself confines to loopback, and over which
it still lets a client attach call credentials), or with TLS when a key and certificate are
given.  Every call's metadata is checked the way the HTTP gateway checks headers — required
values, algorithm, version, timestamp format, app key, the timestamp window, the signature
over the *exact* request bytes received, then the nonce (one memory for HTTP and gRPC), then
the 2FA token when the sandbox requires one — with an independent reference of the gRPC
string to sign (sharing no code with :mod:`brokerauth_webull.grpc_signing`).

An accepted call gets ``SubscribeSuccess``, then the sandbox's events for the accounts asked
for, then the stream ends (a test's subscription has an end).  A refused call ends with
status ``UNAUTHENTICATED``, the Webull message as details, and trailing metadata
``error-code`` (Webull's code, as in the HTTP error body) and ``date`` (the server's clock,
as HTTP's ``Date``), from which a client learns its clock offset.  How the real server reports
a refusal is not in the public record: its ``.proto`` also has an in-stream ``AuthError``
event; this sandbox uses the gRPC status, which every client sees whatever its messages.

Needs ``grpcio`` (the ``[grpc]`` extra); the HTTP sandbox does not import this module.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from typing import Any, Final, NoReturn
from urllib.parse import quote

import grpc

from brokerauth_webull import codes
from brokerauth_webull.codes import WebullError
from brokerauth_webull.events_messages import (
    SERVICE,
    SUBSCRIBE_SUCCESS,
    SubscribeRequest,
    SubscribeResponse,
)
from brokerauth_webull.sandbox.server import WebullSandbox
from brokerauth_webull.verifier import (
    SIGNED_HEADERS,
    check_credentials,
    reference_signature,
)

#: The event type of an order event.  The published enum names only control events (0-4);
#: the SDK hands any other type to ``on_events_message`` as a message.
ORDER_EVENT: Final = 5

_DIGEST: Final = {"HMAC-SHA256": "sha256", "HMAC-SHA1": "md5"}


def reference_grpc_string_to_sign(metadata: Mapping[str, str], body: bytes) -> str:
    """The string to sign rebuilt from a received call (``metadata`` names lower-cased): the
    sorted signed pairs joined with ``=``, then ``&`` and the lower-case hex digest of the
    request bytes, all percent-encoded."""
    canonical = "=".join(k + "=" + metadata[k] for k in sorted(SIGNED_HEADERS))
    if body:
        digest = hashlib.new(_DIGEST[metadata["x-signature-algorithm"]], body)
        canonical += "&" + digest.hexdigest()
    return quote(canonical, safe="")


class WebullEventsServer:
    """Webull's trade-events service on loopback, for ``sandbox``'s apps.

    :param sandbox: the HTTP sandbox whose apps, clock, window, nonces and tokens are used.
    :param events: the payloads (JSON objects) streamed to each accepted subscription, per
        account asked for (``account_id`` is added); three order events by default.
    :param tls: ``(private key PEM, certificate chain PEM)`` to serve TLS instead of gRPC's
        local (loopback plaintext) credentials.
    """

    def __init__(
        self,
        sandbox: WebullSandbox,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        events: Sequence[Mapping[str, Any]] | None = None,
        tls: tuple[bytes, bytes] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.host = host
        self.events: list[Mapping[str, Any]] = list(events if events is not None else (
            {"client_order_id": "SBX-1", "order_status": "SUBMITTED"},
            {"client_order_id": "SBX-1", "order_status": "PARTIAL_FILLED", "filled_qty": "1"},
            {"client_order_id": "SBX-1", "order_status": "FILLED", "filled_qty": "2"},
        ))
        self.tls = tls
        #: Error codes answered, as the HTTP sandbox's ``rejections``.
        self.rejections: collections.Counter[str] = collections.Counter()
        #: Every accepted subscription: the request and the metadata names it carried.
        self.subscriptions: list[tuple[SubscribeRequest, tuple[str, ...]]] = []
        #: Every call as received, its metadata and request bytes (a test replays one).
        self.received: list[tuple[tuple[tuple[str, str], ...], bytes]] = []
        self._lock = threading.Lock()
        self._requested_port = port
        self._port: int | None = None
        self._server: grpc.Server | None = None

    def __repr__(self) -> str:
        where = "not started" if self._port is None else self.base_url
        return f"<WebullEventsServer {where}>"

    # -- life --------------------------------------------------------------------------------
    def start(self) -> WebullEventsServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler(SERVICE, {
            "Subscribe": grpc.unary_stream_rpc_method_handler(
                self._subscribe, response_serializer=SubscribeResponse.SerializeToString
            ),
        })
        server.add_generic_rpc_handlers((handler,))
        address = f"{self.host}:{self._requested_port}"
        if self.tls is None:
            credentials = grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        else:
            credentials = grpc.ssl_server_credentials([self.tls])
        self._port = server.add_secure_port(address, credentials)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None).wait(5.0)

    def __enter__(self) -> WebullEventsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the events server is not started")
        return self._port

    @property
    def target(self) -> str:
        """``host:port``, what a gRPC channel is opened to."""
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The origin a profile's ``events_url`` names (``https`` when serving TLS)."""
        return f"{'http' if self.tls is None else 'https'}://{self.target}"

    def profile_settings(self) -> dict[str, Any]:
        """The HTTP sandbox's profile settings plus ``events_url`` for this server."""
        return {**self.sandbox.profile_settings(), "events_url": self.base_url}

    # -- the service -------------------------------------------------------------------------
    def _subscribe(self, body: bytes, context: grpc.ServicerContext) -> Iterator[SubscribeResponse]:
        received = tuple((key, value) for key, value in context.invocation_metadata()
                         if isinstance(value, str))
        with self._lock:
            self.received.append((received, body))
        metadata = {key.lower(): value for key, value in received}
        rejection = self.authenticate(metadata, body)
        if rejection is not None:
            self._refuse(context, rejection)
        try:
            request = SubscribeRequest.FromString(body)
        except (ValueError, UnicodeDecodeError):
            self._refuse(context, codes.ILLEGAL_PARAMETER, grpc.StatusCode.INVALID_ARGUMENT)
        with self._lock:
            self.subscriptions.append((request, tuple(name for name, _ in received)))
        now_ms = int(self.sandbox.server_now() * 1000)
        yield SubscribeResponse(event_type=SUBSCRIBE_SUCCESS,
                                subscribe_type=request.subscribe_type,
                                content_type="text/plain", payload="subscribe success",
                                timestamp=now_ms)
        for account in request.accounts:
            for number, event in enumerate(self.events, 1):
                yield SubscribeResponse(
                    event_type=ORDER_EVENT,
                    subscribe_type=request.subscribe_type,
                    content_type="application/json",
                    payload=json.dumps({"account_id": account, **event}, separators=(",", ":")),
                    request_id=f"{account}-{number}",
                    timestamp=now_ms,
                )

    def authenticate(self, metadata: Mapping[str, str], body: bytes) -> WebullError | None:
        """The gateway's checks of one call, in the HTTP gateway's order; ``None`` if it is
        authentic (its nonce is then used up)."""
        sandbox = self.sandbox
        now = sandbox.server_now()
        checked = check_credentials(metadata, secret_for=sandbox.secret_for, now=now,
                                    window=sandbox.timestamp_window)
        if isinstance(checked, WebullError):
            return checked
        secret, algorithm = checked
        app_key = metadata["x-app-key"]
        expected = reference_signature(reference_grpc_string_to_sign(metadata, body), secret,
                                       algorithm)
        if not hmac.compare_digest(expected.encode("ascii"),
                                   metadata["x-signature"].encode("utf-8")):
            return codes.INCORRECT_SIGNATURE
        replayed = sandbox.use_nonce(app_key, metadata["x-signature-nonce"], now)
        if replayed is not None:
            return replayed
        if sandbox.two_factor_required:
            return sandbox.use_token(app_key, metadata.get("x-access-token"), now)
        return None

    def _refuse(
        self,
        context: grpc.ServicerContext,
        error: WebullError,
        status: grpc.StatusCode = grpc.StatusCode.UNAUTHENTICATED,
    ) -> NoReturn:
        with self._lock:
            self.rejections[error.code] += 1
        date = email.utils.formatdate(self.sandbox.server_now(), usegmt=True)
        context.set_trailing_metadata((("error-code", error.code), ("date", date)))
        context.abort(status, error.message)
        raise AssertionError("grpc's abort() returned")  # it raises; this tells mypy so
