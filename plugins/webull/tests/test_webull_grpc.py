"""Webull's trade-events gRPC stream through a profile: a real gRPC server on loopback (the
sandbox's events service, sharing the HTTP sandbox's apps, clock, nonces and tokens), the
interceptor of ``brokerauth_webull.grpc_auth`` on a real channel.  Refusals behave as over
HTTP: a wrong secret and a replayed nonce are refused, a 90 s clock offset costs one refusal
and is learned."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    import grpc
except ImportError:  # the [grpc] extra is missing
    if os.environ.get("CI"):
        raise
    pytest.skip("grpcio is not installed (pip install 'brokerauth-webull[grpc]')",
                allow_module_level=True)

from brokerauth.contract.errors import ConfigError
from brokerauth.engine.sessions import Session
from brokerauth_webull import events_messages as em
from brokerauth_webull.grpc_auth import EventsAuth, TradeEvents, call_origin
from brokerauth_webull.sandbox.events import WebullEventsServer
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import CANARY_SECRET, SmsUser

ACCOUNT = "SBX0000001"
ACCOUNTS_PATH = "/openapi/account/list"


@pytest.fixture
def events(webull: WebullSandbox) -> Iterator[WebullEventsServer]:
    with WebullEventsServer(webull) as server:
        yield server


@pytest.fixture
def events_session(
    webull: WebullSandbox, events: WebullEventsServer, open_session: Callable[..., Session]
) -> Callable[..., Session]:
    """A session on a profile pointed at both sandboxes (``events_url`` the gRPC one)."""

    def make(**keys: Any) -> Session:
        keys.setdefault("two_factor", "off")
        # The fixture's sandbox requires the 2FA token; a profile without one gets an account
        # without it.
        webull.two_factor_required = keys["two_factor"] != "off"
        return open_session(webull, events_url=events.base_url, **keys)

    return make


def received(stream: Iterator[em.SubscribeResponse]) -> list[em.SubscribeResponse]:
    out = []
    for event in stream:  # the sandbox ends its streams: bounded
        out.append(event)
        assert len(out) < 100
    return out


def names(call: tuple[tuple[tuple[str, str], ...], bytes]) -> dict[str, str]:
    return dict(call[0])


def test_subscribe_through_a_profile_receives_events(
    webull: WebullSandbox, events: WebullEventsServer, events_session: Callable[..., Session],
    capfd: pytest.CaptureFixture[str],
) -> None:
    session = events_session(two_factor="on", interaction=SmsUser(webull))
    with TradeEvents(session) as stream:
        got = received(stream.subscribe([ACCOUNT], timeout=10))
    assert got[0].event_type == em.SUBSCRIBE_SUCCESS
    orders = [json.loads(e.payload) for e in got[1:]]
    assert [o["order_status"] for o in orders] == ["SUBMITTED", "PARTIAL_FILLED", "FILLED"]
    assert {o["account_id"] for o in orders} == {ACCOUNT}
    assert events.rejections == {}
    ((request, sent_names),) = events.subscriptions
    assert request.accounts == (ACCOUNT,)
    # The SDK's metadata, in its order, then the 2FA token this profile uses.
    assert sent_names[-7:] == ("x-app-key", "x-signature-algorithm", "x-signature-version",
                               "x-signature-nonce", "x-timestamp", "x-signature",
                               "x-access-token")
    assert names(events.received[0])["x-access-token"] == session.tokens.peek().access_token
    out, err = capfd.readouterr()
    # The SDK's events client prints its signature; this prints nothing.
    assert out == ""
    assert err == ""


def test_every_call_is_signed_anew(
    events: WebullEventsServer, events_session: Callable[..., Session],
    manual_clock: Any,
) -> None:
    session = events_session()
    with TradeEvents(session) as stream:
        for _ in range(2):
            assert len(received(stream.subscribe([ACCOUNT], timeout=10))) == 4
        manual_clock.advance(5)
        assert len(received(stream.subscribe([ACCOUNT], timeout=10))) == 4
    calls = [names(call) for call in events.received]
    assert len({c["x-signature-nonce"] for c in calls}) == 3
    assert len({c["x-signature"] for c in calls}) == 3
    assert calls[0]["x-timestamp"] != calls[2]["x-timestamp"]
    assert "x-access-token" not in calls[0]  # two_factor = "off": no token attached
    assert events.rejections == {}


def test_a_wrong_secret_is_refused_as_over_http(
    webull: WebullSandbox, events: WebullEventsServer, events_session: Callable[..., Session],
) -> None:
    from brokerauth.toolkit.secrets import Secret

    session = events_session(app_secret=Secret.from_value("not-the-" + CANARY_SECRET[8:]))
    assert session.get(ACCOUNTS_PATH).status == 401
    assert webull.rejections == {"UNAUTHORIZED": 1}
    with TradeEvents(session) as stream, pytest.raises(grpc.RpcError) as caught:
        received(stream.subscribe([ACCOUNT], timeout=10))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "Header x-signature is invalid."
    assert events.rejections == {"UNAUTHORIZED": 1}
    assert events.subscriptions == []


def test_a_replayed_call_is_refused(
    events: WebullEventsServer, events_session: Callable[..., Session],
) -> None:
    session = events_session()
    with TradeEvents(session) as stream:
        assert len(received(stream.subscribe([ACCOUNT], timeout=10))) == 4
    metadata, body = events.received[0]
    # The same signed metadata and bytes, sent again by someone who saw them.
    with grpc.secure_channel(events.target, grpc.local_channel_credentials()) as channel:
        replay = channel.unary_stream(em.METHOD, response_deserializer=em.SubscribeResponse.
                                      FromString)
        with pytest.raises(grpc.RpcError) as caught:
            received(replay(body, metadata=[(k, v) for k, v in metadata
                                            if k.startswith("x-")], timeout=10))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert events.rejections == {"DUPLICATE_NONCE": 1}
    assert len(events.subscriptions) == 1


def test_a_tampered_request_is_refused(
    events: WebullEventsServer, events_session: Callable[..., Session],
) -> None:
    session = events_session()
    with TradeEvents(session) as stream:
        assert len(received(stream.subscribe([ACCOUNT], timeout=10))) == 4
    metadata, body = events.received[0]
    other = em.SubscribeRequest.FromString(body)
    forged = em.SubscribeRequest(other.subscribe_type, other.timestamp,
                                 accounts=("SOMEONE-ELSE",)).SerializeToString()
    fresh = [(k, v) for k, v in metadata if k.startswith("x-") and k != "x-signature-nonce"]
    fresh.append(("x-signature-nonce", "f" * 32))
    with grpc.secure_channel(events.target, grpc.local_channel_credentials()) as channel:
        call = channel.unary_stream(em.METHOD)
        with pytest.raises(grpc.RpcError):
            received(call(forged, metadata=fresh, timeout=10))
    assert events.rejections == {"UNAUTHORIZED": 1}


@pytest.mark.parametrize("offset", [90, -90])
def test_ninety_seconds_of_skew_cost_one_refusal(
    offset: int, webull: WebullSandbox, events: WebullEventsServer,
    events_session: Callable[..., Session],
) -> None:
    webull.clock_offset = offset  # the server's clock is 90 s off; its window is 60 s
    session = events_session()
    with TradeEvents(session) as stream:
        for _ in range(3):
            got = received(stream.subscribe([ACCOUNT], timeout=10))
            assert [e.event_type for e in got][:1] == [em.SUBSCRIBE_SUCCESS]
            assert len(got) == 4
    assert events.rejections == {"CLOCK_SKEW_EXCEEDED": 1}
    assert round(session.binding.skew.total_seconds()) == offset
    assert len(events.subscriptions) == 3
    # The offset is the session's: its HTTP requests are on time too.
    assert session.get(ACCOUNTS_PATH).status == 200
    assert webull.rejections == {}


def test_credentials_go_to_the_events_origin_only(
    webull: WebullSandbox, events: WebullEventsServer, events_session: Callable[..., Session],
) -> None:
    session = events_session(two_factor="on", interaction=SmsUser(webull))
    auth = EventsAuth(session)
    with WebullEventsServer(webull) as elsewhere:
        # A channel of the user's own cannot be given the credentials at all: gRPC tells
        # call credentials the call's :authority, which channel options set to anything.
        raw = grpc.secure_channel(elsewhere.target, grpc.local_channel_credentials())
        with raw, pytest.raises(TypeError):
            grpc.intercept_channel(raw, auth)  # type: ignore[arg-type]
        # Nor may the channel brokerauth builds be told to name the origin while it connects
        # elsewhere, or to check another name.
        authority = events.base_url.split("://", 1)[1]
        for option in ("grpc.default_authority", "grpc.ssl_target_name_override"):
            with pytest.raises(ConfigError, match=re.escape(option)):
                auth.channel(options=[(option, authority)])
        with pytest.raises(ConfigError, match=r"grpc\.http_proxy"):
            auth.channel(options=[("grpc.http_proxy", f"http://{elsewhere.target}")])
        assert elsewhere.received == []
    # The channel it builds goes to the events origin, with options of the user's.
    with auth.channel(options=[("grpc.max_receive_message_length", 1 << 20)]) as channel:
        call: Any = channel.unary_stream(em.METHOD,
                                    request_serializer=em.SubscribeRequest.SerializeToString,
                                    response_deserializer=em.SubscribeResponse.FromString)
        assert len(received(call(em.SubscribeRequest(accounts=(ACCOUNT,)), timeout=10))) == 4
    assert len(events.received) == 1


def test_a_profile_without_an_events_origin_is_a_config_error(
    webull: WebullSandbox, open_session: Callable[..., Session],
) -> None:
    session = open_session(webull, two_factor="off")  # base_url, and no events_url
    with pytest.raises(ConfigError, match="trade-events origin") as caught:
        EventsAuth(session)
    assert "events_url" in (caught.value.hint or "")


def test_the_environment_names_the_events_host(token_home: Any) -> None:
    import brokerauth
    from brokerauth.engine.profiles import Profile
    from brokerauth.toolkit.secrets import Secret

    profile = Profile.from_mapping("wb-hk", {
        "broker": "webull", "environment": "hk",
        "app_key": Secret.from_value("k" * 16), "app_secret": Secret.from_value("s" * 16),
    })
    with brokerauth.session(profile) as session:
        assert EventsAuth(session).origin == "https://events-api.webull.hk"


@pytest.mark.parametrize(("url", "origin"), [
    ("https://events-api.webull.com/grpc.trade.event.EventService", "https://events-api.webull.com"),
    ("https://h:8443/s", "https://h:8443"),
    ("://127.0.0.1:5005/s", "http://127.0.0.1:5005"),
])
def test_call_origin(url: str, origin: str) -> None:
    found = call_origin(url)
    assert found is not None
    assert f"{found[0]}://{found[1]}" == origin
    assert call_origin("garbage") is None


@pytest.mark.parametrize("url", ["https://someone:hunter2-pass@events-api.webull.com",
                                 "https://someone@events-api.webull.com"])
def test_an_events_url_with_a_user_part_is_refused_unechoed(url: str, token_home: Any) -> None:
    import brokerauth
    from brokerauth.contract.errors import ProfileError
    from brokerauth.engine.profiles import Profile
    from brokerauth.toolkit.secrets import Secret

    profile = Profile.from_mapping("wb-us", {
        "broker": "webull", "environment": "us", "events_url": url,
        "app_key": Secret.from_value("k" * 16), "app_secret": Secret.from_value("s" * 16),
    })
    with pytest.raises(ProfileError, match="user part") as caught:
        brokerauth.session(profile)
    assert "hunter2" not in str(caught.value)
    assert "someone" not in str(caught.value)
