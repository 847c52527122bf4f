"""Debug logs never show a query string or a header value (README, Guarantees; QUALITY item
21): not urllib3's own ``"GET /path?query HTTP/1.1" 200`` line, neither under ``brokerauth -v``
nor when an application turns DEBUG on itself.  Over real HTTP against the test double's sandbox."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.toolkit.logs import HTTP_LOGGERS, QUERY_MARK, quiet_http_logs, redact_query_record
from brokerauth_sandbox.server import SandboxRequest, SandboxResponse
from test_cli import live_profile, run

CANARY = "CANARY123456"
HEADER_CANARY = "HDRCANARY987654"


@pytest.fixture
def live(sandbox_factory: Any, token_home: Path, tmp_path: Path) -> dict[str, Any]:
    double = sandbox_factory("double", clock=SystemClock())
    return {"double": double, "env": live_profile(double, tmp_path)}


def _headers_received(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every request's headers as the sandbox received them (signatures, token, nonce...)."""
    received: list[dict[str, str]] = []
    dispatch = sandbox.dispatch

    def recording(request: SandboxRequest) -> SandboxResponse:
        received.append(dict(request.headers))
        response: SandboxResponse = dispatch(request)
        return response

    monkeypatch.setattr(sandbox, "dispatch", recording)
    return received


def _secret_header_values(received: list[dict[str, str]]) -> set[str]:
    # What a header carries that is not the same on every request from every client: the
    # signature, nonce, timestamp, token, client id.  Host, lengths and types are no secret.
    public = {"host", "content-length", "content-type", "accept-encoding", "accept",
              "user-agent", "connection"}
    values = {value for headers in received for name, value in headers.items()
              if name not in public and len(value) >= 8}
    return values | {value.partition(" ")[2] for value in values if value.startswith("Bearer ")}


def test_cli_verbose_shows_neither_query_nor_header_values(
    live: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    received = _headers_received(live["double"], monkeypatch)
    result = run("-v", "request", "live", "GET", f"/api/me?secretparam={CANARY}",
                 "--param", f"other={CANARY}x", env=live["env"])
    assert result.returncode == 0, result.stderr
    # urllib3 did log the request line; only its query is gone
    assert '"GET /api/me?<query> HTTP/1.1" 200' in result.stderr
    assert CANARY not in result.stderr
    secrets = _secret_header_values(received) | {live["double"].client_secret}
    assert any(h.get("authorization", "").startswith("Bearer ") for h in received)
    # stdout is the answer's body, which names the client id: the logs are on stderr
    leaked = [value for value in secrets if value in result.stderr]
    assert not leaked


def test_library_debug_shows_neither_query_nor_header_values(
    double: Any, session_factory: Any, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As an application that never ran the CLI: no filter yet, until the transport makes its
    # pool (earlier tests in this process may have installed it).
    for name in HTTP_LOGGERS:
        logging.getLogger(name).removeFilter(redact_query_record)
    received = _headers_received(double, monkeypatch)
    caplog.set_level(logging.DEBUG)
    session = session_factory(double)
    response = session.get("/api/me", params={"secretparam": CANARY},
                           headers={"X-Trace": HEADER_CANARY})
    assert response.status == 200
    assert session.post("/api/orders?secretparam=" + CANARY, json={"q": 1}).status == 200
    lines = [record.getMessage() for record in caplog.records]
    assert any('"GET /api/me?<query> HTTP/1.1" 200' in line for line in lines), lines
    secrets = _secret_header_values(received) | {CANARY, double.client_secret}
    assert HEADER_CANARY in secrets and session.token.access_token in secrets
    for record in caplog.records:
        shown = record.getMessage() + repr(record.args) + str(record.msg)
        assert not [value for value in secrets if value in shown], shown


def test_httpx_adapter_logs_no_query(
    double: Any, token_home: Any, manual_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import httpx
    from brokerauth.adapters import httpx_auth
    from brokerauth.engine.profiles import Profile

    profile = Profile.from_mapping("adapted", {"broker": "double", **double.profile_settings()})
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        assert client.get(double.base_url + "/api/me").is_success  # the token is stored now
    # As an application whose only brokerauth is the adapter, reading the stored token: no
    # brokerauth transport ever makes a pool, so the adapter itself must quiet httpx.
    for name in HTTP_LOGGERS:
        logging.getLogger(name).removeFilter(redact_query_record)
    caplog.set_level(logging.DEBUG)
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        assert client.get(double.base_url + "/api/me", params={"secretparam": CANARY}).is_success
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert any("HTTP Request: GET" in line and QUERY_MARK in line for line in lines), lines
    assert not [line for line in lines if CANARY in line]


def test_httpx_adapter_debug_shows_no_answer_header_value(
    double: Any, token_home: Any, manual_clock: Any, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpcore traces every answer's status line and headers at DEBUG, values and all: a
    # Location with an authorization code in its query, a session cookie.
    import attrs
    import httpx
    from brokerauth.adapters import httpx_auth
    from brokerauth.engine.profiles import Profile

    dispatch = double.dispatch

    def with_secrets(request: SandboxRequest) -> SandboxResponse:
        answer: SandboxResponse = dispatch(request)
        return attrs.evolve(answer, headers=(
            *answer.headers, ("Set-Cookie", f"session={HEADER_CANARY}"),
            ("Content-Location", f"/api/me?code={CANARY}")))

    monkeypatch.setattr(double, "dispatch", with_secrets)
    profile = Profile.from_mapping("adapted", {"broker": "double", **double.profile_settings()})
    caplog.set_level(logging.DEBUG)
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        response = client.get(double.base_url + "/api/me")
    assert response.is_success
    assert response.headers["set-cookie"] == f"session={HEADER_CANARY}"  # it was sent
    traced = [r.getMessage() for r in caplog.records if r.name.startswith("httpcore")]
    assert any("receive_response_headers" in line for line in traced), traced
    assert any("200" in line for line in traced if "receive_response_headers" in line)
    shown = [r.getMessage() for r in caplog.records]
    assert not [line for line in shown if CANARY in line or HEADER_CANARY in line]


# --- the filter alone -----------------------------------------------------------------------


def _record(msg: Any, args: Any) -> logging.LogRecord:
    return logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1, msg, args,
                             None)


@pytest.mark.parametrize(("msg", "args"), [
    ('%s://%s:%s "%s %s %s" %s %s',
     ("http", "127.0.0.1", 80, "GET", f"/x?s={CANARY}&t=1", "HTTP/1.1", 200, 12)),
    ("Redirecting %s -> %s", (f"/a?s={CANARY}", f"http://h/b?s={CANARY}#frag")),
    ("Retrying (%r) after connection broken by '%r': %s",
     ("Retry(total=1)", ValueError(f"for /x?s={CANARY}"), f"/x?s={CANARY}")),
    ("Incremented Retry for (url='%s'): %r", (f"/x?s={CANARY}", "Retry(total=0)")),
    ("%(url)s answered", ({"url": f"/x?s={CANARY}"},)),
    (f'"GET /x?s={CANARY} HTTP/1.1" 200', ()),
    (ValueError(f"/x?s={CANARY}"), None),
])
def test_every_form_of_record_loses_its_query(msg: Any, args: Any) -> None:
    record = _record(msg, args)
    assert redact_query_record(record) is True
    assert CANARY not in record.getMessage()
    assert "?<query>" in record.getMessage()
    # twice is the same as once
    again = record.getMessage()
    assert redact_query_record(record) is True
    assert record.getMessage() == again


def test_the_request_line_keeps_everything_but_the_query() -> None:
    record = _record('%s://%s:%s "%s %s %s" %s %s',
                     ("http", "127.0.0.1", 80, "GET", f"/x?s={CANARY}", "HTTP/1.1", 200, 12))
    redact_query_record(record)
    assert record.getMessage() == 'http://127.0.0.1:80 "GET /x?<query> HTTP/1.1" 200 12'
    plain = _record("Starting new HTTP connection (%d): %s:%s", (1, "127.0.0.1", 80))
    redact_query_record(plain)
    assert plain.getMessage() == "Starting new HTTP connection (1): 127.0.0.1:80"


def test_a_record_that_cannot_be_formatted_is_dropped_not_raised() -> None:
    # logging's own report of a formatting error prints the arguments: drop it instead.
    record = _record("%s %s %d", (f"/x?s={CANARY}", "only two"))
    assert redact_query_record(record) is False


def test_quiet_http_logs_is_idempotent() -> None:
    quiet_http_logs()
    quiet_http_logs()
    for name in HTTP_LOGGERS:
        assert logging.getLogger(name).filters.count(redact_query_record) == 1


def test_http2_header_coding_logs_no_header_value(caplog: pytest.LogCaptureFixture) -> None:
    # httpx's HTTP/2 (h2, hpack) logs every header it encodes or decodes at DEBUG, value and
    # all: hpack masks only Authorization, not a signature, a Webull x-access-token or an
    # answer's cookie.  Every adapter quiets it, as it quiets urllib3's and httpx's lines.
    import hpack  # the core's [test] extra brings it, with h2
    quiet_http_logs()
    headers = [(":method", "GET"), ("x-access-token", HEADER_CANARY),
               ("x-signature", HEADER_CANARY + "sig")]
    with caplog.at_level(logging.DEBUG):
        block = hpack.Encoder().encode(headers)
        assert hpack.Decoder().decode(block) == headers
    assert not [r for r in caplog.records if HEADER_CANARY in r.getMessage()]


def test_http_client_debuglevel_prints_nothing_of_a_session(
    double: Any, session_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # requests' documented debugging recipe: every http.client connection of the process then
    # prints each request's headers and body (a token, a refresh token, a client secret).
    import http.client

    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    session = session_factory(double)
    assert session.get("/api/me", params={"secretparam": CANARY}).status == 200
    printed = capfd.readouterr()
    assert session.token is not None
    for secret in (session.token.access_token, CANARY, double.client_secret):
        assert secret not in printed.out + printed.err
