"""The httpx adapter's signature replaces any header of the same name the caller gave, in any
spelling, so the server sees the signer's value once (what it signed), never the caller's."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from brokerauth.adapters import httpx_auth
from brokerauth.engine.profiles import Profile


@pytest.fixture
def profile(double: Any, token_home: Any) -> Profile:
    return Profile.from_mapping("adapted", {"broker": "double", **double.profile_settings()})


@pytest.mark.parametrize("name", ["X-Double-Nonce", "x-double-nonce", "AUTHORIZATION"])
def test_a_caller_header_of_a_signer_name_is_replaced(profile: Profile, double: Any,
                                                      manual_clock: Any, name: str) -> None:
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        response = client.get(double.base_url + "/api/me", headers={name: "the-caller's"})
    assert response.status_code == 200  # the double checked the signature over its nonce
    sent = response.request.headers
    assert len(sent.get_list(name)) == 1
    assert sent[name] != "the-caller's"
    assert double.seen_tokens[-1] is not None


def test_signature_headers_sent_once_each(profile: Profile, double: Any,
                                          manual_clock: Any) -> None:
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        for _ in range(3):
            response = client.get(double.base_url + "/api/me", headers={"X-Other": "kept"})
            assert response.status_code == 200
            sent = response.request.headers
            for name in ("x-double-client", "x-double-timestamp", "x-double-nonce",
                         "x-double-signature", "authorization"):
                assert len(sent.get_list(name)) == 1, name
            assert sent["x-other"] == "kept"


def test_a_caller_trace_sees_every_event(profile: Profile, double: Any,
                                         manual_clock: Any) -> None:
    """The adapter's guard steps aside after the answer's headers: the caller's own trace is
    put back, and sees the rest of the request's events as it would without brokerauth."""
    events: list[str] = []

    def trace(name: str, info: dict[str, Any]) -> None:
        events.append(name)

    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        for _ in range(2):
            response = client.get(double.base_url + "/api/me", extensions={"trace": trace})
            assert response.status_code == 200
    for name in ("send_request_headers.started", "receive_response_headers.complete",
                 "receive_response_body.complete", "response_closed.complete"):
        assert events.count(f"http11.{name}") == 2, name


def test_headers_kept_in_another_layout_are_never_written_directly() -> None:
    # The adapter appends its headers to the list httpx's Headers keeps (cheaper than its
    # setter) only when that list is laid out as the httpx versions it was tested with keep it
    # (name, lower-cased name, value, all bytes); a list of another layout, as a later httpx
    # might keep it, goes to httpx's own setter, never gets entries of the old layout mixed in.
    from brokerauth.adapters.httpx_adapter import _add_headers

    headers = httpx.Headers({"X-Caller": "kept"})
    headers._list = [(b"x-caller", b"kept")]  # another layout
    with contextlib.suppress(ValueError):  # this httpx's own setter does not know it either
        _add_headers(headers, {"x-double-nonce": "n1", "x-double-signature": "s1"})
    assert headers._list == [(b"x-caller", b"kept")]

    tested = httpx.Headers({"X-Caller": "kept"})
    _add_headers(tested, {"x-double-nonce": "n1", "x-double-signature": "s1"})
    assert tested.multi_items() == [("x-caller", "kept"), ("x-double-nonce", "n1"),
                                    ("x-double-signature", "s1")]
    assert tested.raw == [(b"X-Caller", b"kept"), (b"x-double-nonce", b"n1"),
                          (b"x-double-signature", b"s1")]


def test_signer_names_differing_only_in_case_go_to_the_setter() -> None:
    # The adapter appends a signature's entries in one step when none of its names is there
    # yet; a signature naming one header twice in two spellings is no such case: httpx's own
    # setter decides, and the header is sent once, with the value set last, exactly as
    # setting each header one by one leaves it.
    from brokerauth.adapters.httpx_adapter import _add_headers

    signature = {"X-Double-Nonce": "n1", "x-double-nonce": "n2", "x-double-signature": "s1"}
    for _ in range(2):  # the second time, the names' plan comes from the cache
        headers = httpx.Headers({"X-Caller": "kept"})
        _add_headers(headers, signature)
        expected = httpx.Headers({"X-Caller": "kept"})
        for name, value in signature.items():
            expected[name] = value
        assert headers.raw == expected.raw
        assert headers.get_list("x-double-nonce") == ["n2"]
