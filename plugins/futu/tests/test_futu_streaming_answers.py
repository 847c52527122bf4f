"""The socket-token answer of a hostile or broken Futu API, served over real HTTP on
loopback: an answer over the token-answer limit is refused unread, connection counts that
are not integers are refused (not dropped, which skipped the connection-limit check), and
only the integer 0 (or "0") is a success code (``false`` was taken for one)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from brokerauth.contract.errors import BrokerError, ResponseError
from brokerauth.engine.api import session as open_session
from brokerauth.engine.profiles import Profile
from brokerauth.engine.sessions import Session
from brokerauth.engine.transport import TOKEN_RESPONSE_LIMIT
from brokerauth.toolkit.secrets import Secret
from brokerauth_futu import handshake
from futu_helpers import CANARY_KEY, CANARY_SECRET, CANARY_TOKEN


class Answers(http.server.BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b"{}"
    served: ClassVar[list[str]] = []
    base_url: ClassVar[str] = ""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).served.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def api() -> Iterator[type[Answers]]:
    handler: type[Answers] = type("Handler", (Answers,), {"served": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    handler.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def session(api: type[Answers], tmp_path: Path, clock: Any) -> Iterator[Session]:
    profile = Profile.from_mapping("futu-answers", {
        "broker": "futu", "mode": "api_key", "base_url": api.base_url,
        "token_dir": str(tmp_path), "quote_ws_url": "ws://127.0.0.1:9/quote",
        "ws_handshake": "longbridge-otp",
        "app_key": Secret.from_value(CANARY_KEY), "app_secret": Secret.from_value(CANARY_SECRET),
        "access_token": Secret.from_value(CANARY_TOKEN),
    })
    with open_session(profile, clock=clock) as opened:
        yield opened


def answer(api: type[Answers], body: Any) -> None:
    api.body = body if isinstance(body, bytes) else json.dumps(body).encode()


def test_a_good_answer_is_taken(api: type[Answers], session: Session) -> None:
    answer(api, {"code": 0, "data": {"otp": "abc", "limit": 5, "online": 1}})
    shake = handshake(session, "quote")
    assert (shake.limit, shake.online) == (5, 1)
    answer(api, {"code": "0", "data": {"otp": "abc"}})
    assert handshake(session, "quote").limit is None
    assert api.served == ["/v1/socket/token"] * 2


def test_an_answer_over_the_token_limit_is_refused(api: type[Answers], session: Session) -> None:
    pad = "A" * (TOKEN_RESPONSE_LIMIT + 1)
    answer(api, {"code": 0, "data": {"otp": "abc", "pad": pad}})
    with pytest.raises(ResponseError):
        handshake(session, "quote")


@pytest.mark.parametrize("data", [
    {"otp": "abc", "limit": "1", "online": 5},
    {"otp": "abc", "limit": 1, "online": "5"},
    {"otp": "abc", "limit": 1.0, "online": 5},
    {"otp": "abc", "limit": 2, "online": True},
    {"otp": "abc", "limit": -1, "online": 0},
])
def test_connection_counts_that_are_not_integers_are_refused(
    api: type[Answers], session: Session, data: dict[str, Any]
) -> None:
    answer(api, {"code": 0, "data": data})
    with pytest.raises(ResponseError, match="not a count"):
        handshake(session, "quote")


@pytest.mark.parametrize("code", [False, 0.0, [], "false", 1])
def test_only_zero_is_success(api: type[Answers], session: Session, code: Any) -> None:
    answer(api, {"code": code, "message": "denied", "data": {"otp": "abc"}})
    with pytest.raises(BrokerError, match="denied"):
        handshake(session, "quote")
