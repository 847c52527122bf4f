"""Webull's quote streaming subscription: the signed ``POST /market-data/streaming/subscribe``
with the MQTT session id, through a session, against the sandbox (which verifies it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import urllib3
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.engine.sessions import Session
from brokerauth.toolkit.secrets import Secret
from brokerauth_webull import streaming
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import CANARY_SECRET, SmsUser


def test_subscribe_and_unsubscribe_through_a_session(
    webull: WebullSandbox, open_session: Callable[..., Session]
) -> None:
    session = open_session(webull, interaction=SmsUser(webull), two_factor="on")
    session_id = streaming.new_session_id()
    answer = streaming.subscribe(session, session_id, ["AAPL", "TSLA"], category="US_STOCK",
                                 sub_types=["QUOTE", "SNAPSHOT", "TICK"])
    assert answer.status == 200
    topics = webull.quote_topics[(webull.app_key, session_id)]
    assert len(topics) == 6  # 2 symbols x 3 sub types, as Webull counts topics
    streaming.unsubscribe(session, session_id, ["TSLA"], category="US_STOCK",
                          sub_types=["QUOTE", "SNAPSHOT", "TICK"])
    assert webull.quote_topics[(webull.app_key, session_id)] == {
        ("US_STOCK:AAPL", "QUOTE"), ("US_STOCK:AAPL", "SNAPSHOT"), ("US_STOCK:AAPL", "TICK")}
    assert webull.rejections == {}


def test_the_sandbox_verifies_the_call(webull: WebullSandbox, http: urllib3.PoolManager) -> None:
    unsigned = http.request("POST", webull.base_url + streaming.SUBSCRIBE_PATH,
                            json={"session_id": "s", "symbols": ["AAPL"],
                                  "category": "US_STOCK", "sub_types": ["QUOTE"]})
    assert unsigned.status == 401
    assert webull.quote_topics == {}


def test_a_wrong_secret_is_refused(
    webull: WebullSandbox, open_session: Callable[..., Session]
) -> None:
    webull.two_factor_required = False
    wrong = "not-the-" + CANARY_SECRET
    session = open_session(webull, two_factor="off", app_secret=Secret.from_value(wrong))
    with pytest.raises(BrokerAuthError) as caught:
        streaming.subscribe(session, streaming.new_session_id(), ["AAPL"], category="US_STOCK")
    assert wrong not in str(caught.value)
    assert webull.rejections == {"UNAUTHORIZED": 1}
    assert webull.quote_topics == {}


def test_a_clock_90_s_off_costs_one_refusal(
    webull: WebullSandbox, open_session: Callable[..., Session]
) -> None:
    webull.two_factor_required = False
    webull.clock_offset = 90
    session = open_session(webull, two_factor="off")
    for _ in range(3):
        streaming.subscribe(session, "sid", ["AAPL"], category="US_STOCK")
    assert webull.rejections == {"CLOCK_SKEW_EXCEEDED": 1}


@pytest.mark.parametrize(("symbols", "sub_types", "session_id"), [
    ([], ["QUOTE"], "sid"),
    ([f"S{i}" for i in range(51)], ["QUOTE"], "sid"),
    (["AAPL"], ["DEPTH"], "sid"),
    (["AAPL"], [], "sid"),
    (["AAPL"], ["QUOTE"], ""),
])
def test_a_bad_subscription_is_refused_before_sending(
    symbols: list[str], sub_types: list[str], session_id: str,
    webull: WebullSandbox, open_session: Callable[..., Session],
) -> None:
    session = open_session(webull, two_factor="off")
    with pytest.raises(ValueError, match=r"symbols|sub_types|session_id"):
        streaming.subscribe(session, session_id, symbols, category="US_STOCK",
                            sub_types=sub_types)
    assert webull.rejections == {}
    assert webull.quote_topics == {}


def test_the_mqtt_login(webull: WebullSandbox, open_session: Callable[..., Session]) -> None:
    session = open_session(webull, two_factor="off")
    first, second = streaming.new_session_id(), streaming.new_session_id()
    assert first != second
    login = streaming.mqtt_login(session, first)
    assert login.client_id == first
    assert login.username == webull.app_key
    assert webull.app_key not in repr(login)
