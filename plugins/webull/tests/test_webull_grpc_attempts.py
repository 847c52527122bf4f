"""Each attempt of a trade-events call is signed at its own time: a gRPC retry policy's
attempts carry distinct nonces, and the call made again after a timestamp refusal carries a
``SubscribeRequest.timestamp`` computed with the offset just learned; callbacks registered on
the stream run once, when the call that is kept ends.  Real gRPC servers on loopback."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import pytest

try:
    import grpc
except ImportError:  # the [grpc] extra is missing
    if os.environ.get("CI"):
        raise
    pytest.skip("grpcio is not installed (pip install 'brokerauth-webull[grpc]')",
                allow_module_level=True)

from brokerauth.engine.sessions import Session
from brokerauth_webull import events_messages as em
from brokerauth_webull.grpc_auth import EventsAuth, TradeEvents
from brokerauth_webull.sandbox.events import WebullEventsServer
from brokerauth_webull.sandbox.server import WebullSandbox

ACCOUNT = "SBX0000001"


class Flaky(grpc.GenericRpcHandler):
    """The first attempt: UNAVAILABLE once its metadata is read; later ones: one event."""

    def __init__(self) -> None:
        self.nonces: list[str] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        if details.method != em.METHOD:
            return None

        def handler(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            self.nonces.append(str(dict(context.invocation_metadata())["x-signature-nonce"]))
            if len(self.nonces) == 1:
                context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
            yield em.SubscribeResponse(event_type=em.SUBSCRIBE_SUCCESS).SerializeToString()

        return grpc.unary_stream_rpc_method_handler(handler)


@pytest.fixture
def flaky() -> Iterator[tuple[Flaky, int]]:
    handler = Flaky()
    server = grpc.server(futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port(
        "127.0.0.1:0", grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP))
    server.start()
    try:
        yield handler, port
    finally:
        server.stop(0).wait(10)


def test_a_retry_policys_attempts_are_signed_each(
    webull: WebullSandbox, open_session: Callable[..., Session], flaky: tuple[Flaky, int],
) -> None:
    handler, port = flaky
    webull.two_factor_required = False
    session = open_session(webull, two_factor="off", events_url=f"http://127.0.0.1:{port}")
    config = {"methodConfig": [{"name": [{"service": em.SERVICE}], "retryPolicy": {
        "maxAttempts": 3, "initialBackoff": "0.05s", "maxBackoff": "0.1s",
        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}
    options = [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(config))]
    with EventsAuth(session).channel(options=options) as channel:
        call = channel.unary_stream(em.METHOD,
                                    request_serializer=em.SubscribeRequest.SerializeToString,
                                    response_deserializer=em.SubscribeResponse.FromString)
        got = list(call(em.SubscribeRequest(accounts=(ACCOUNT,)), timeout=10))
    assert [e.event_type for e in got] == [em.SUBSCRIBE_SUCCESS]
    assert len(handler.nonces) == 2  # gRPC retried, not brokerauth
    assert len(set(handler.nonces)) == 2


def test_the_call_made_again_has_a_fresh_request_and_one_callback_run(
    webull: WebullSandbox, open_session: Callable[..., Session],
) -> None:
    webull.two_factor_required = False
    webull.clock_offset = 90  # the server's clock is 90 s ahead; its window is 60 s
    with WebullEventsServer(webull) as events:
        session = open_session(webull, two_factor="off", events_url=events.base_url)
        ended = threading.Event()
        runs: list[Any] = []
        with TradeEvents(session) as stream:
            call: Any = stream.subscribe([ACCOUNT], timeout=10)
            def done() -> None:
                runs.append(call.code())
                ended.set()

            assert call.add_callback(done)
            got = []
            for event in call:  # the sandbox ends its streams: bounded
                got.append(event)
                assert len(got) < 100
            assert ended.wait(10)
            assert not call.add_callback(lambda: None)  # the stream has ended
        assert len(got) == 4
        assert runs == [grpc.StatusCode.OK]  # once, for the call that was kept
        assert events.rejections == {"CLOCK_SKEW_EXCEEDED": 1}
        ((request, _),) = events.subscriptions
        # Its timestamp is the server's time (the offset learned), not the refused one's.
        assert abs(request.timestamp / 1000 - webull.server_now()) < 5
