"""RFC 6749 §4.1.2.1 and QUALITY item 14: an ``error=`` callback is the authorization server's
answer only when it carries this login's ``state``.  Without it (any web page can embed
``<img src="http://127.0.0.1:PORT/callback?error=access_denied">``) the loopback listener
answers HTTP 400 and keeps waiting, like for any forged callback; with the right state it ends
the login with the reason, masked and on one line.  Over real sockets on 127.0.0.1; the same
is driven through a Futu and a Webull Connect login in their plugins' tests."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import pytest
import urllib3
from brokerauth.toolkit.loopback import LoopbackListener
from brokerauth.toolkit.oauth import AuthorizationError, ForgedCallbackError, parse_callback

STATE = "the-right-state-Zk3q9w"


def _get(url: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, redirect=False, retries=False, timeout=5)


@pytest.fixture
def listener() -> Any:
    with LoopbackListener("http://127.0.0.1:0/callback", expected_state=STATE,
                          timeout=5) as running:
        yield running


@pytest.mark.parametrize("forged", [
    "error=access_denied",
    "error=access_denied&state=wrong-state",
    "error=access_denied&state=",
    "error=access_denied&error_description=you+said+no&state=" + STATE[:-1],
    "error=server_error&state=" + STATE + "x",
])
def test_an_error_callback_without_the_state_is_refused_and_the_login_goes_on(
    listener: LoopbackListener, forged: str
) -> None:
    port = listener.port
    refused = _get(f"http://127.0.0.1:{port}/callback?{forged}")
    assert refused.status == 400
    assert refused.headers["Cache-Control"] == "no-store"
    assert b"state" in refused.data  # the page says why, in fixed words
    assert listener.refused == 1
    good = _get(f"http://127.0.0.1:{port}/callback?code=the-code&state={STATE}")
    assert good.status == 200
    assert listener.wait() == "the-code"


def test_many_forged_error_callbacks_while_waiting_never_end_the_login(
    listener: LoopbackListener,
) -> None:
    port = listener.port
    results: list[object] = []

    def wait() -> None:
        try:
            results.append(listener.wait())
        except AuthorizationError as exc:  # what a forged callback must never cause
            results.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    for _ in range(20):
        assert _get(f"http://127.0.0.1:{port}/callback?error=access_denied").status == 400
    assert waiter.is_alive()  # still waiting
    assert _get(f"http://127.0.0.1:{port}/callback?code=c&state={STATE}").status == 200
    waiter.join(5)
    assert results == ["c"]
    assert listener.refused == 20


def test_an_error_with_the_right_state_ends_the_login_with_a_scrubbed_reason(
    listener: LoopbackListener,
) -> None:
    port = listener.port
    description = quote(f"denied\x1b[31m for state {STATE}\nlog in\u202eagain " + "x" * 2000)
    response = _get(f"http://127.0.0.1:{port}/callback?error=access_denied"
                    f"&error_description={description}&state={STATE}")
    assert response.status == 400
    # The login is over: a code arriving afterwards is a second callback, refused.
    assert _get(f"http://127.0.0.1:{port}/callback?code=c&state={STATE}").status == 400
    with pytest.raises(AuthorizationError) as info:
        listener.wait()
    message = info.value.message
    assert "authorization failed: access_denied" in message
    assert STATE not in message  # the state is masked where the server quoted it
    assert "***" in message
    assert "\x1b" not in message and "\n" not in message and "\u202e" not in message
    assert len(message) < 400
    assert listener.refused == 1  # the late code, not the server's answer


def test_parse_callback_checks_the_state_before_the_error() -> None:
    for forged in ("error=access_denied", "error=access_denied&state=bad",
                   "?error=access_denied&state=", "http://h/cb?error=x&state=" + STATE + "y"):
        with pytest.raises(ForgedCallbackError, match="state does not match"):
            parse_callback(forged, expected_state=STATE)
    with pytest.raises(AuthorizationError, match="access_denied") as info:
        parse_callback(f"error=access_denied&state={STATE}", expected_state=STATE)
    assert not isinstance(info.value, ForgedCallbackError)
    # Forged callbacks are still AuthorizationErrors (a LoginRequiredError) for callers that
    # only catch that.
    assert issubclass(ForgedCallbackError, AuthorizationError)
