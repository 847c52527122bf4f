"""The sandbox's gateway over real HTTP: what it accepts and how it refuses, Webull-style."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import urllib3
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull import codes
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import CANARY_SECRET, Client

ACCOUNTS = "/openapi/account/list"


def assert_error(response: urllib3.BaseHTTPResponse, error: codes.WebullError) -> None:
    assert response.status == error.status, response.data
    assert response.json() == {"error_code": error.code, "message": error.message}
    assert CANARY_SECRET.encode() not in response.data


def test_signed_get_is_accepted(client: Client, sandbox: WebullSandbox) -> None:
    response = client.call("GET", ACCOUNTS, headers={"x-version": "v2"})
    assert response.status == 200, response.data
    assert response.json()[0]["account_id"]
    assert sandbox.count("GET", ACCOUNTS) == 1


def test_sha1_and_query_and_body_are_accepted(client: Client) -> None:
    response = client.call(
        "GET",
        ACCOUNTS,
        params=[("b", "x y"), ("a", "1&2"), ("a", "中文+é"), ("Zeta", "")],
        algorithm="HMAC-SHA1",
    )
    assert response.status == 200, response.data
    response = client.call("POST", "/openapi/config-not-here", json_body={"a": [1, "ü"]})
    assert_error(response, codes.NOT_FOUND)


def test_config_reports_two_factor(
    make_sandbox: Callable[..., WebullSandbox], make_client: Any
) -> None:
    for required in (False, True):
        client = make_client(make_sandbox(two_factor_required=required))
        response = client.call("GET", "/openapi/config")
        assert response.status == 200
        assert response.json() == {"token_check_enabled": required}


def test_wrong_signature(client: Client) -> None:
    response = client.call("GET", ACCOUNTS, app_secret="not-the-secret")
    assert_error(response, codes.INCORRECT_SIGNATURE)


def test_tampered_query_after_signing(client: Client) -> None:
    request, headers = client.build("GET", ACCOUNTS, params={"a": "1"})
    tampered = request.__class__.from_url("GET", request.url.replace("a=1", "a=2"))
    assert_error(client.send(tampered, headers), codes.INCORRECT_SIGNATURE)


def test_unknown_app_key(client: Client) -> None:
    response = client.call("GET", ACCOUNTS, app_key="nobody")
    assert_error(response, codes.UNKNOWN_APP_KEY)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("x-app-key", codes.MISSING_APP_KEY),
        ("x-signature", codes.MISSING_SIGNATURE),
        ("x-signature-algorithm", codes.MISSING_ALGORITHM),
        ("x-signature-nonce", codes.MISSING_NONCE),
        ("x-timestamp", codes.MISSING_TIMESTAMP),
        ("x-signature-version", codes.MISSING_SIGNATURE_VERSION),
    ],
)
def test_missing_header(client: Client, header: str, error: codes.WebullError) -> None:
    request, headers = client.build("GET", ACCOUNTS)
    del headers[header]
    assert_error(client.send(request, headers), error)


@pytest.mark.parametrize(
    ("header", "value", "error"),
    [
        ("x-signature-algorithm", "HMAC-MD5", codes.ALGORITHM_NOT_SUPPORTED),
        ("x-signature-version", "2.0", codes.VERSION_NOT_SUPPORTED),
        ("x-timestamp", "2026-01-02 03:04:05", codes.ILLEGAL_TIMESTAMP),
        ("x-timestamp", "2026-13-40T03:04:05Z", codes.ILLEGAL_TIMESTAMP),
    ],
)
def test_malformed_header(client: Client, header: str, value: str, error: Any) -> None:
    request, headers = client.build("GET", ACCOUNTS)
    headers[header] = value
    assert_error(client.send(request, headers), error)


def test_stale_timestamp_on_manual_clock(client: Client, clock: ManualClock) -> None:
    request, headers = client.build("GET", ACCOUNTS)
    clock.advance(61)
    assert_error(client.send(request, headers), codes.CLOCK_SKEW_EXCEEDED)


def test_timestamp_window_edges(client: Client, clock: ManualClock) -> None:
    request, headers = client.build("GET", ACCOUNTS)
    clock.advance(60)
    assert client.send(request, headers).status == 200
    # A client clock 61 s ahead of the server is refused too.
    response = client.call("GET", ACCOUNTS, when=clock.now() + timedelta(seconds=61))
    assert_error(response, codes.CLOCK_SKEW_EXCEEDED)


def test_server_clock_offset(client: Client, sandbox: WebullSandbox) -> None:
    sandbox.clock_offset = 61.0
    response = client.call("GET", ACCOUNTS)
    assert_error(response, codes.CLOCK_SKEW_EXCEEDED)
    # The Date header carries the server's (skewed) time, so a client can learn the offset.
    server_time = email.utils.parsedate_to_datetime(response.headers["Date"])
    assert (server_time - client.clock.now()).total_seconds() == pytest.approx(61, abs=1)
    sandbox.clock_offset = -59.0
    assert client.call("GET", ACCOUNTS).status == 200


def test_window_is_a_setting(make_sandbox: Callable[..., WebullSandbox], make_client: Any) -> None:
    client = make_client(make_sandbox(timestamp_window=5.0))
    request, headers = client.build("GET", ACCOUNTS)
    client.clock.advance(6)
    assert_error(client.send(request, headers), codes.CLOCK_SKEW_EXCEEDED)


def test_replayed_request(client: Client, sandbox: WebullSandbox) -> None:
    request, headers = client.build("GET", ACCOUNTS)
    assert client.send(request, headers).status == 200
    assert_error(client.send(request, headers), codes.DUPLICATE_NONCE)
    # Re-signed with a new timestamp but the same nonce: still a replay.
    client.clock.advance(5)
    response = client.call("GET", ACCOUNTS, nonce=headers["x-signature-nonce"])
    assert_error(response, codes.DUPLICATE_NONCE)
    assert sandbox.rejections["DUPLICATE_NONCE"] == 2


def test_nonces_are_forgotten_after_the_window(client: Client, sandbox: WebullSandbox) -> None:
    nonce = "same-nonce-for-this-test"
    assert client.call("GET", ACCOUNTS, nonce=nonce).status == 200
    client.clock.advance(121)
    # By now a request carrying that nonce's old timestamp is stale, so it can be forgotten.
    assert client.call("GET", ACCOUNTS).status == 200
    assert client.call("GET", ACCOUNTS, nonce=nonce).status == 200


def test_second_app(client: Client, sandbox: WebullSandbox) -> None:
    sandbox.add_app("second-app", "second-secret")
    response = client.call("GET", ACCOUNTS, app_key="second-app", app_secret="second-secret")
    assert response.status == 200
    response = client.call("GET", ACCOUNTS, app_key="second-app")
    assert_error(response, codes.INCORRECT_SIGNATURE)


def test_host_header_is_signed(client: Client, sandbox: WebullSandbox) -> None:
    request, headers = client.build("GET", ACCOUNTS)
    headers["Host"] = f"localhost:{sandbox.port}"
    assert_error(client.send(request, headers), codes.INCORRECT_SIGNATURE)


def test_no_secret_in_any_answer_or_log(
    client: Client, sandbox: WebullSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = [
        client.call("GET", ACCOUNTS, app_secret="wrong"),
        client.call("GET", ACCOUNTS, app_key="nobody"),
        client.call("GET", "/nowhere"),
        client.call("GET", ACCOUNTS),
    ]
    for answer in answers:
        assert CANARY_SECRET.encode() not in answer.data
        assert all(CANARY_SECRET not in v for v in answer.headers.values())
    assert CANARY_SECRET not in caplog.text
    assert CANARY_SECRET not in repr(sandbox)
