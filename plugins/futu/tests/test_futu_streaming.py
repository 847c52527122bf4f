"""Futu streaming: the WebSocket URLs a profile names, and the one-time password a stream's
auth request carries (Longbridge's documented handshake), end to end against the sandbox's
HTTP API and its loopback WebSocket gateway, with a real WebSocket client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websocket  # websocket-client: the user's own WebSocket client
from brokerauth.contract.errors import BrokerError, ConfigError
from brokerauth_futu import Config, WebSocketHandshake, handshake
from brokerauth_futu.sandbox.gateway import parse_auth_request, parse_request, parse_response
from brokerauth_futu.sandbox.server import FutuSandbox
from futu_helpers import CANARIES, CANARY_KEY, CANARY_SECRET, CANARY_TOKEN

TIMEOUT = 5.0


def connect(shake: WebSocketHandshake, frame: bytes | None = None) -> tuple[int, int, int,
                                                                           dict[int, Any]]:
    """Open the stream the way a user's client does, send the auth request, read the answer."""
    ws = websocket.create_connection(
        shake.url, header=[f"{k}: {v}" for k, v in shake.headers.items()], timeout=TIMEOUT)
    try:
        ws.send_binary(frame if frame is not None else shake.auth_frame(request_id=7))
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY
        return parse_response(data)
    finally:
        ws.close()


def test_api_key_profile_gets_a_password_the_gateway_accepts_once(
    sandbox: FutuSandbox, open_futu: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = open_futu(sandbox, **sandbox.ws_settings(), language="zh-HK")
    shake = handshake(session, "quote")
    # The URL is the profile's own, with the handshake query; no credential in it or the
    # upgrade headers: the password travels in the first binary message only.
    assert shake.url == sandbox.ws_url("quote") + "?version=1&codec=1&platform=9"
    assert shake.origin == "ws://" + sandbox.ws_url("quote").split("/")[2]
    assert shake.headers == {"Accept-Language": "zh-HK"}
    assert shake.otp not in shake.url
    assert shake.otp not in str(shake.headers)
    assert (shake.limit, shake.online) == (10, 0)
    # The password came from an authenticated API call (the legacy signature here).
    assert sandbox.stats["socket_token"] == 1
    assert sandbox.stats["bad_signature"] == 0

    command, request_id, status, fields = connect(shake)
    assert (command, request_id, status) == (2, 7, 0)
    session_id = fields[1]
    assert isinstance(session_id, bytes)
    assert session_id.startswith(b"ws-")
    assert sandbox.stats["ws_auth_ok"] == 1
    assert sandbox.ws_sessions == [("quote", {"accept-language": "zh-HK"})]
    assert sandbox.ws_languages == ["zh-HK"]

    # One password, one connection: the same frame again is refused.
    _, _, status, fields = connect(shake)
    assert status == 1
    assert fields[2] == b"one-time password refused"
    assert sandbox.stats["ws_auth_refused"] == 1

    # Nothing printed or logged holds the password, and the repr hides it.
    assert shake.otp not in repr(shake)
    assert shake.otp not in caplog.text
    for canary in CANARIES:
        assert canary not in caplog.text


def test_each_handshake_is_a_fresh_password_and_trade_sends_no_metadata(
    sandbox: FutuSandbox, open_futu: Any
) -> None:
    session = open_futu(sandbox, **sandbox.ws_settings())
    first, second = handshake(session, "trade"), handshake(session, "trade")
    assert first.otp != second.otp
    assert first.url == sandbox.ws_url("trade") + "?version=1&codec=1&platform=9"
    # The frame is what the SDK sends: a request packet, command 2, the password inside.
    parsed = parse_request(second.auth_frame())
    assert parsed is not None
    command, request_id, body = parsed
    assert (command, request_id) == (2, 1)
    assert parse_auth_request(body) == (second.otp, {})
    assert connect(second)[2] == 0
    assert connect(first)[2] == 0
    assert sandbox.ws_sessions == [("trade", {}), ("trade", {})]


def test_the_gateway_wants_the_documented_handshake_query(sandbox: FutuSandbox) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(sandbox.ws_url("quote"), timeout=TIMEOUT)
    assert info.value.status_code == 400


def test_response_packets_that_lie_about_lengths_are_refused() -> None:
    # A body field claiming more bytes than there are, and a truncated varint.
    for body in (b"\x0a\x7f", b"\x10\xff"):
        packet = b"\x02\x02" + (1).to_bytes(4, "big") + b"\x00" + len(body).to_bytes(3, "big")
        with pytest.raises(ValueError, match="malformed"):
            parse_response(packet + body)


def test_a_forged_password_is_refused(sandbox: FutuSandbox, open_futu: Any) -> None:
    session = open_futu(sandbox, **sandbox.ws_settings())
    real = handshake(session, "quote")
    forged = WebSocketHandshake(kind="quote", url=real.url, headers=real.headers,
                                otp="not-" + real.otp)
    assert connect(forged)[2] == 1
    assert sandbox.stats["ws_auth_ok"] == 0
    assert connect(real)[2] == 0


def test_oauth_profile_gets_its_password_with_the_bearer_token(
    oauth_sandbox: FutuSandbox, open_futu: Any
) -> None:
    session = open_futu(oauth_sandbox, **oauth_sandbox.ws_settings())
    shake = handshake(session, "quote")
    assert oauth_sandbox.stats["code_exchange"] == 1
    assert connect(shake)[2] == 0


def test_config_from_env_streams(
    sandbox: FutuSandbox, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUTU_APP_KEY", CANARY_KEY)
    monkeypatch.setenv("FUTU_APP_SECRET", CANARY_SECRET)
    monkeypatch.setenv("FUTU_ACCESS_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("FUTU_HTTP_URL", sandbox.base_url)
    monkeypatch.setenv("FUTU_QUOTE_WS_URL", sandbox.ws_url("quote"))
    with Config.from_env(clock=clock, ws_handshake="longbridge-otp") as config:
        assert config.quote_ws_url == sandbox.ws_url("quote")
        assert connect(config.websocket("quote"))[2] == 0
        # No trade URL configured, and Futu documents no default: refused before any call.
        calls = sandbox.stats["socket_token"]
        with pytest.raises(ConfigError) as info:
            config.websocket("trade")
        assert "documents no default" in str(info.value)
        assert "FUTU_TRADE_WS_URL" in (info.value.hint or "")
        assert sandbox.stats["socket_token"] == calls


def test_no_websocket_url_means_no_token_request(sandbox: FutuSandbox, clock: Any) -> None:
    with Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                    clock=clock) as config:
        assert config.quote_ws_url is None
        with pytest.raises(ConfigError, match="no quote WebSocket URL"):
            config.websocket("quote")
        with pytest.raises(ConfigError, match="'quote' or 'trade'"):
            handshake(config.session(), "orders")  # type: ignore[arg-type]
    assert sandbox.stats["socket_token"] == 0


def test_connection_limit_is_refused_like_the_sdk(sandbox: FutuSandbox, open_futu: Any) -> None:
    sandbox.ws_limit, sandbox.ws_online = 2, 2
    session = open_futu(sandbox, **sandbox.ws_settings())
    with pytest.raises(BrokerError, match=r"connection limit is reached \(2 of 2 open\)"):
        handshake(session, "quote")


def test_a_revoked_credential_gets_no_password(sandbox: FutuSandbox, open_futu: Any) -> None:
    session = open_futu(sandbox, **sandbox.ws_settings())
    sandbox.revoke_credential()
    with pytest.raises(BrokerError) as info:
        handshake(session, "quote")
    assert "revoked" in str(info.value)
    assert sandbox.stats["socket_token"] == 0


def test_the_token_path_is_a_setting(sandbox: FutuSandbox, open_futu: Any) -> None:
    session = open_futu(sandbox, **sandbox.ws_settings(), socket_token_path="/v2/socket/otp")
    with pytest.raises(BrokerError) as info:
        handshake(session, "quote")
    assert "/v2/socket/otp" in str(info.value)
    assert sandbox.stats["socket_token"] == 0


@pytest.mark.parametrize("path", ["//evil.example/v1/socket/token", "v1/socket/token",
                                  "/v1/socket/token?user=x"])
def test_the_token_path_is_a_path_on_the_api_root(
    sandbox: FutuSandbox, open_futu: Any, path: str
) -> None:
    with pytest.raises(ConfigError, match="socket_token_path must be a path"):
        open_futu(sandbox, socket_token_path=path).get("/v1/account/info")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://quote.example.com/v2", "must not be plain ws:// to 'quote.example.com'"),
        ("https://quote.example.com/v2", "must be an absolute wss:// URL"),
        ("wss://user:hunter2-secret@quote.example.com/v2", "without a user name, password"),
        ("wss://quote.example.com/v2?token=hunter2-secret", "query"),
        ("wss://quote.example.com:99999/v2", "must be an absolute wss:// URL"),
        ("wss:///v2", "must be an absolute wss:// URL"),
    ],
)
def test_websocket_urls_are_checked_like_the_http_url(
    sandbox: FutuSandbox, open_futu: Any, url: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        open_futu(sandbox, trade_ws_url=url).get("/v1/account/info")
    text = str(info.value)
    assert "trade_ws_url" in text
    assert expected in text
    assert "hunter2-secret" not in text


@pytest.mark.parametrize("url", ["wss://quote.example.com/v2", "ws://127.0.0.1:9/v2",
                                 "ws://[::1]:9/quote/v2", "ws://localhost:9/v2/"])
def test_secure_or_loopback_urls_are_taken(
    sandbox: FutuSandbox, open_futu: Any, url: str, tmp_path: Path
) -> None:
    session = open_futu(sandbox, quote_ws_url=url)
    assert session.binding.settings.quote_ws_url == url.rstrip("/")


def test_the_longbridge_handshake_is_opt_in(sandbox: FutuSandbox, clock: Any) -> None:
    # A WebSocket URL alone is not enough: Futu documents no handshake, so Longbridge's is
    # used only when the profile says so, and nothing is asked of the server before.
    with Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                    quote_ws_url=sandbox.ws_url("quote"), clock=clock) as config:
        attempts: list[Callable[[], object]] = [
            lambda: config.websocket("quote"), lambda: handshake(config.session(), "quote")]
        for attempt in attempts:
            with pytest.raises(ConfigError, match="Futu documents no WebSocket handshake") \
                    as info:
                attempt()
            assert "Longbridge" in str(info.value)
            assert 'ws_handshake = "longbridge-otp"' in (info.value.hint or "")
    assert sandbox.stats["socket_token"] == 0
    with Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                    quote_ws_url=sandbox.ws_url("quote"), ws_handshake="longbridge-otp",
                    clock=clock) as config:
        assert connect(config.websocket("quote"))[2] == 0
    with pytest.raises(ConfigError, match="ws_handshake"), \
            Config.new(CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, http_url=sandbox.base_url,
                       ws_handshake="futu", clock=clock) as config:
        config.session()


def test_scheme_and_host_are_lower_cased(sandbox: FutuSandbox, open_futu: Any) -> None:
    url = sandbox.ws_url("quote")
    assert url.startswith("ws://127.0.0.1:")
    # WebSocket clients refuse "WS://" (websocket-client: "scheme WS is invalid").
    session = open_futu(sandbox, quote_ws_url="WS://" + url[len("ws://"):])
    assert session.binding.settings.quote_ws_url == url
    assert connect(handshake(session, "quote"))[2] == 0
    other = open_futu(sandbox, name="upper", trade_ws_url="WSS://Quote.Example.COM:8443/V2/")
    assert other.binding.settings.trade_ws_url == "wss://quote.example.com:8443/V2"
