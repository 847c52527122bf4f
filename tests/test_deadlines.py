"""Every request and every refresh ends within its deadline, however the answer trickles
(QUALITY 22): the profile's ``timeout`` is the whole exchange of one request — connect, send,
status line, headers and body — not each socket read.

Hostile servers on 127.0.0.1 (``tests/_hostile.py``) trickle a byte or a header line at a time,
each just inside any per-read timeout; the test double's sandbox, behind a proxy that can make
one path trickle, gives the good path.  Times are real, measured with ``time.monotonic``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _hostile import (
    Behaviour,
    HostileServer,
    answering,
    forward,
    measure,
    never_reading,
    trickling_body,
    trickling_chunks,
    trickling_headers,
    trickling_status_line,
)
from brokerauth.contract.errors import DeadlineError, RefreshError, TransportError
from brokerauth.contract.wire import Request
from brokerauth.engine import failures
from brokerauth.engine.transport import Transport

#: The profile's timeout in these tests (seconds).
T = 0.5

TRICKLES = {
    "body a byte at a time": trickling_body,
    "chunked body a chunk at a time": trickling_chunks,
    "header lines one at a time": trickling_headers,
    "status line a byte at a time": trickling_status_line,
}


def _assert_deadline_error(error: Exception | None, elapsed: float, timeout: float,
                           method: str, url: str) -> None:
    assert isinstance(error, TransportError), repr(error)
    assert 0.9 * timeout <= elapsed < 3 * timeout, elapsed
    text = str(error)
    assert f"{method} {url}: no complete answer within {timeout:g} s" in text
    assert "?" not in text.splitlines()[0] and "SECRET" not in text


@pytest.mark.parametrize("trickle", TRICKLES.values(), ids=TRICKLES.keys())
def test_a_trickling_answer_ends_in_a_typed_error_within_the_timeout(trickle: Any) -> None:
    with HostileServer(trickle()) as server:
        transport = Transport(timeout=T)
        request = Request.from_url("GET", server.url + "/api/quotes?token=SECRET-IN-QUERY")
        elapsed, error = measure(lambda: transport.send(request))
        _assert_deadline_error(error, elapsed, T, "GET", server.url + "/api/quotes")
        # The connection was dropped, not kept for the next request: the server sees it close.
        assert server.client_closed.wait(2)
        transport.close()


def test_a_server_that_stops_reading_cannot_hold_the_send() -> None:
    with HostileServer(never_reading()) as server:
        transport = Transport(timeout=T)
        request = Request.from_url("POST", server.url + "/api/orders", body=bytes(32 << 20))
        elapsed, error = measure(lambda: transport.send(request))
        _assert_deadline_error(error, elapsed, T, "POST", server.url + "/api/orders")
        transport.close()


def test_the_timeout_of_one_call_is_its_whole_exchange_too() -> None:
    with HostileServer(trickling_body()) as server:
        transport = Transport(timeout=30)
        request = Request.from_url("GET", server.url + "/api/quotes")
        elapsed, error = measure(lambda: transport.send(request, timeout=T))
        _assert_deadline_error(error, elapsed, T, "GET", server.url + "/api/quotes")
        transport.close()


def test_a_slow_answer_that_completes_in_time_is_read_and_its_connection_reused() -> None:
    body = b'{"bars": [' + b"1," * 5000 + b"1]}"
    for chunked in (False, True):
        with HostileServer(answering(body, chunked=chunked, pieces=4, gap=0.05)) as server:
            transport = Transport(timeout=1.0)
            for _ in range(2):
                response = transport.send(Request.from_url("GET", server.url + "/api/bars"))
                assert response.status == 200 and response.content == body
            assert server.connections == 1
            transport.close()


# -- through a session and a refresh, against the test double behind a proxy -----------------

@pytest.fixture
def proxy(double: Any) -> Iterator[tuple[HostileServer, dict[str, Behaviour]]]:
    """A proxy in front of the test double's sandbox; put a path in the dict to make it trickle."""
    trickle: dict[str, Behaviour] = {}
    with HostileServer(forward(double.host, trickle)) as server:
        yield server, trickle


def test_a_trickling_api_answer_ends_the_session_request_within_the_timeout(
    double: Any, session_factory: Any, proxy: Any
) -> None:
    server, trickle = proxy
    api = session_factory(double, base_url=server.url, timeout=T)
    assert api.get("/api/me").status == 200
    trickle["/api/orders"] = trickling_body()
    elapsed, error = measure(lambda: api.post("/api/orders", json={"symbol": "AAPL"}))
    _assert_deadline_error(error, elapsed, T, "POST", server.url + "/api/orders")
    assert double.orders == []


def test_a_get_whose_answer_trickles_ends_within_the_timeout_without_retries(
    double: Any, session_factory: Any, proxy: Any
) -> None:
    server, trickle = proxy
    api = session_factory(double, base_url=server.url, timeout=T, retries=0)
    assert api.get("/api/me").status == 200
    trickle["/api/me"] = trickling_headers()
    elapsed, error = measure(lambda: api.get("/api/me", params={"q": "SECRET"}))
    _assert_deadline_error(error, elapsed, T, "GET", server.url + "/api/me")


def test_a_get_whose_answer_trickles_is_not_resent(
    double: Any, session_factory: Any, proxy: Any
) -> None:
    # retries (2 by default) resend a GET after a broken connection, not after a deadline:
    # a slow server would cost the whole timeout again each time.
    server, trickle = proxy
    api = session_factory(double, base_url=server.url, timeout=T)
    assert api.get("/api/me").status == 200
    trickle["/api/me"] = trickling_headers()
    before = len(server.requests)
    elapsed, error = measure(lambda: api.get("/api/me"))
    assert isinstance(error, DeadlineError)
    _assert_deadline_error(error, elapsed, T, "GET", server.url + "/api/me")
    assert elapsed < 1.5 * T
    # Sent once, not resent: the proxy records the request, and the trickling behaviour it hands
    # the request to records it again as it reads it (a resend would add two more).
    assert server.requests[before:] == [("GET", "/api/me")] * 2


@pytest.mark.parametrize("trickle", [trickling_headers, trickling_body],
                         ids=["headers", "body"])
def test_a_trickling_token_endpoint_fails_the_refresh_in_time_and_the_old_token_stays(
    double: Any, session_factory: Any, manual_clock: Any, proxy: Any, trickle: Any
) -> None:
    server, tricklers = proxy
    api = session_factory(double, base_url=server.url, timeout=T)
    old = api.token
    assert api.get("/api/me").status == 200
    manual_clock.advance(double.token_lifetime + 1)  # expired: every caller waits for the refresh
    tricklers["/oauth/token"] = trickle()
    elapsed, error = measure(lambda: api.get("/api/me"))
    assert isinstance(error, RefreshError), repr(error)
    assert 0.9 * T <= elapsed < 3 * T, elapsed
    assert f"no complete answer within {T:g} s" in str(error)
    stored = api.binding.load()
    assert (stored.access_token, stored.refresh_token) == (old.access_token, old.refresh_token)
    assert double.refresh_calls == 0 and double.count("GET", "/api/me") == 1
    # The endpoint recovers: after the back-off the old refresh token still works.
    tricklers.clear()
    manual_clock.advance(failures.backoff(1))
    assert api.get("/api/me").status == 200
    assert double.refresh_calls == 1 and api.token.access_token != old.access_token


def test_an_explicit_refresh_against_a_trickling_endpoint_ends_within_the_timeout(
    double: Any, session_factory: Any, proxy: Any
) -> None:
    server, tricklers = proxy
    api = session_factory(double, base_url=server.url, timeout=T)
    old = api.token
    tricklers["/oauth/token"] = trickling_status_line()
    elapsed, error = measure(api.refresh)
    assert isinstance(error, RefreshError), repr(error)
    assert elapsed < 3 * T, elapsed
    assert api.binding.load().access_token == old.access_token
