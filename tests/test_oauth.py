"""OAuth building blocks: PKCE S256, state, callbacks, token answers, and the loopback
listener over real sockets."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3
from brokerauth.contract.errors import BrokerError, ConfigError, ResponseError
from brokerauth.contract.tokens import Token
from brokerauth.contract.wire import Request, Response
from brokerauth.toolkit.loopback import LoginTimeoutError, LoopbackListener
from brokerauth.toolkit.oauth import (
    AuthorizationError,
    Pkce,
    TokenErrorDialect,
    new_state,
    parse_callback,
    parse_token_answer,
    s256,
    token_error,
)

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    assert s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    pair = Pkce.create()
    assert pair.method == "S256"
    assert 43 <= len(pair.verifier) <= 128
    assert pair.challenge == s256(pair.verifier)
    assert pair.verifier not in repr(pair)


def test_state_has_at_least_128_bits() -> None:
    states = {new_state() for _ in range(1000)}
    assert len(states) == 1000
    assert all(len(s) >= 22 for s in states)  # 22 base64url characters carry 132 bits


def test_parse_callback() -> None:
    assert parse_callback("http://localhost/cb?code=abc&state=s1", expected_state="s1") == "abc"
    assert parse_callback("?code=abc&state=s1", expected_state="s1") == "abc"
    for bad in ("code=abc", "code=abc&state=s2", "state=s1"):
        with pytest.raises(AuthorizationError):
            parse_callback(bad, expected_state="s1")
    with pytest.raises(AuthorizationError, match="access_denied"):
        parse_callback("error=access_denied&state=s1", expected_state="s1")


def test_token_answer_with_string_numbers_and_rotation() -> None:
    previous = Token(access_token="a0", broker="b", refresh_token="r0")
    token = parse_token_answer(
        {"access_token": "a1", "token_type": "Bearer", "expires_in": "1800",
         "rt_expires_in": "1296000", "refresh_token": "r1"},
        broker="b", now=NOW, status=200, previous=previous, refresh_lifetime_field="rt_expires_in",
    )
    assert token.expires_at == NOW + timedelta(seconds=1800)
    assert token.refresh_expires_at == NOW + timedelta(days=15)
    assert token.refresh_token == "r1"
    kept = parse_token_answer({"access_token": "a2", "expires_in": 60}, broker="b", now=NOW,
                              status=200, previous=token)
    assert kept.refresh_token == "r1"
    assert kept.refresh_expires_at == token.refresh_expires_at


@pytest.mark.parametrize("body", [
    {}, {"access_token": ""}, {"access_token": 5}, {"access_token": "a", "expires_in": "soon"},
    {"access_token": "a", "expires_in": -1}, {"access_token": "a", "token_type": "mac"},
    {"access_token": "a", "refresh_token": 7}, {"access_token": "a", "expires_in": True},
])
def test_malformed_token_answers_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ResponseError) as info:
        parse_token_answer(body, broker="b", now=NOW, status=200)
    assert "a" not in {str(v) for v in body.values()} or "'a'" not in str(info.value)


def _response(status: int, body: bytes) -> Response:
    return Response(status, {"Content-Type": "application/json"}, body,
                    Request.from_url("POST", "http://127.0.0.1/token"))


def test_token_errors_in_rfc_6749_s_dialect_or_the_plugin_s() -> None:
    rfc = token_error(_response(400, b'{"error":"invalid_grant"}'), what="refresh",
                      login_command="brokerauth login p --user alice")
    assert isinstance(rfc, AuthorizationError)
    assert "`brokerauth login p --user alice`" in str(rfc)
    # The core knows no broker's codes: a plugin passes its own.
    dialect = TokenErrorDialect(code_fields=("error_code",), message_fields=("message",),
                                dead_grant=frozenset({"code.dead"}))
    answer = _response(417, b'{"error_code":"code.dead","message":"code bad"}')
    assert isinstance(token_error(answer, what="code exchange", dialect=dialect),
                      AuthorizationError)
    assert not isinstance(token_error(answer, what="code exchange"), AuthorizationError)
    other = token_error(_response(500, b'{"error_code":"x","message":"boom"}'), what="t")
    assert isinstance(other, BrokerError)
    assert other.code == "x"
    assert other.status == 500


# -- the loopback listener, over real sockets -----------------------------------------------

def _get(url: str, host: str | None = None) -> urllib3.BaseHTTPResponse:
    headers = {"Host": host} if host else {}
    return urllib3.request("GET", url, headers=headers, redirect=False, retries=False,
                           timeout=5)


@pytest.fixture
def listener() -> Any:
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state="good-state",
                          timeout=5) as running:
        yield running


def test_listener_binds_loopback_only(listener: LoopbackListener) -> None:
    addresses = {server.server_address[0] for server in listener._servers}
    assert addresses <= {"127.0.0.1", "::1"}
    assert "127.0.0.1" in addresses


def test_good_callback_returns_the_code_with_safe_headers(listener: LoopbackListener) -> None:
    response = _get(f"http://127.0.0.1:{listener.port}/callback?code=c1&state=good-state")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert listener.wait() == "c1"


@pytest.mark.parametrize(("path", "host"), [
    ("/callback?code=c&state=good-state", "evil.example:{port}"),       # DNS rebinding
    ("/callback?code=c&state=good-state", "127.0.0.1:1"),               # wrong port
    ("/other?code=c&state=good-state", None),                            # wrong path
    ("/callback?code=c", None),                                          # missing state
    ("/callback?code=c&state=bad-state", None),                          # wrong state
])
def test_bad_callbacks_get_400_and_do_not_end_the_wait(listener: LoopbackListener, path: str,
                                                       host: str | None) -> None:
    port = listener.port
    response = _get(f"http://127.0.0.1:{port}{path}", host.format(port=port) if host else None)
    assert response.status == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert listener.refused == 1
    good = _get(f"http://127.0.0.1:{port}/callback?code=c2&state=good-state")
    assert good.status == 200
    assert listener.wait() == "c2"


def test_a_second_callback_is_refused(listener: LoopbackListener) -> None:
    port = listener.port
    assert _get(f"http://127.0.0.1:{port}/callback?code=c1&state=good-state").status == 200
    assert _get(f"http://127.0.0.1:{port}/callback?code=c9&state=good-state").status == 400
    assert listener.wait() == "c1"


def test_localhost_host_header_is_accepted(listener: LoopbackListener) -> None:
    port = listener.port
    url = f"http://127.0.0.1:{port}/callback?code=c1&state=good-state"
    assert _get(url, f"localhost:{port}").status == 200


def test_denied_authorization_ends_the_wait_with_the_reason(listener: LoopbackListener) -> None:
    port = listener.port
    _get(f"http://127.0.0.1:{port}/callback?error=access_denied&state=good-state")
    with pytest.raises(AuthorizationError, match="access_denied"):
        listener.wait()


def test_listener_times_out_and_closes() -> None:
    listener = LoopbackListener("http://127.0.0.1:0/cb", expected_state="s", timeout=0.2).start()
    port = listener.port
    with pytest.raises(LoginTimeoutError, match="no login callback"):
        listener.wait()
    with pytest.raises(urllib3.exceptions.HTTPError):
        _get(f"http://127.0.0.1:{port}/cb?code=c&state=s")


def test_a_taken_port_fails_fast_and_clearly() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(ConfigError, match=f"port {port} .* already in use") as caught:
            LoopbackListener(f"http://localhost:{port}/callback", expected_state="s").start()
        assert time.monotonic() - started < 1.0
        # Most often the port's holder is this profile's own other login, still waiting.
        assert "another login of this profile may be waiting on it" in (caught.value.hint or "")
    finally:
        blocker.close()


def test_non_loopback_redirect_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a loopback"):
        LoopbackListener("http://example.com:8080/cb", expected_state="s")
