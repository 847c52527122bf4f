"""The trade-events stream over TLS, as against Webull's real ``events-api`` host: the sandbox
serves a throwaway certificate made for this test (127.0.0.1), the profile's ``events_url``
is ``https://``, and the credentials go to that origin only."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    import cryptography  # noqa: F401 - the events server's certificate is made with it
    import grpc
except ImportError:  # the [grpc] or [test] extra is missing
    if os.environ.get("CI"):
        raise
    pytest.skip("grpcio and cryptography are needed (pip install 'brokerauth-webull[test]')",
                allow_module_level=True)

from brokerauth.contract.errors import ConfigError
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.tls import loopback_certificate
from brokerauth_webull import events_messages as em
from brokerauth_webull.grpc_auth import EventsAuth, TradeEvents
from brokerauth_webull.sandbox.events import WebullEventsServer
from brokerauth_webull.sandbox.server import WebullSandbox


@pytest.fixture(scope="module")
def certificate() -> tuple[bytes, bytes]:
    """A self-signed certificate for 127.0.0.1 and its key, valid for an hour."""
    return loopback_certificate("brokerauth test events")


@pytest.fixture
def tls_events(webull: WebullSandbox,
               certificate: tuple[bytes, bytes]) -> Iterator[WebullEventsServer]:
    webull.two_factor_required = False
    with WebullEventsServer(webull, tls=certificate) as server:
        yield server


def test_subscribe_over_tls(
    tls_events: WebullEventsServer, open_session: Callable[..., Session],
    certificate: tuple[bytes, bytes],
) -> None:
    assert tls_events.base_url.startswith("https://127.0.0.1:")
    session = open_session(tls_events.sandbox, two_factor="off", events_url=tls_events.base_url)
    with TradeEvents(session, root_certificates=certificate[1]) as events:
        got = list(events.subscribe(["SBX0000001"], timeout=10))
    assert [e.event_type for e in got] == [em.SUBSCRIBE_SUCCESS] + [5] * 3
    assert tls_events.rejections == {}


def test_over_tls_another_origin_gets_nothing(
    tls_events: WebullEventsServer, open_session: Callable[..., Session],
    certificate: tuple[bytes, bytes],
) -> None:
    session = open_session(tls_events.sandbox, two_factor="off", events_url=tls_events.base_url)
    auth = EventsAuth(session)
    authority = tls_events.base_url.split("://", 1)[1]
    with WebullEventsServer(tls_events.sandbox, tls=certificate) as elsewhere:
        # The options that would name the origin (or check its name) on a channel to
        # another server are refused; a channel of one's own cannot be given the credentials.
        for option in ("grpc.default_authority", "grpc.ssl_target_name_override"):
            with pytest.raises(ConfigError, match=re.escape(option)):
                auth.channel(root_certificates=certificate[1], options=[(option, authority)])
        raw = grpc.secure_channel(elsewhere.target, grpc.ssl_channel_credentials(certificate[1]))
        with raw, pytest.raises(TypeError):
            grpc.intercept_channel(raw, auth)  # type: ignore[arg-type]
        with auth.channel(root_certificates=certificate[1]) as channel:
            call: Any = channel.unary_stream(em.METHOD,
                                        request_serializer=em.SubscribeRequest.SerializeToString)
            assert len(list(call(em.SubscribeRequest(accounts=("SBX0000001",)), timeout=10))) == 4
        assert elsewhere.received == []
    assert len(tls_events.received) == 1
