"""A credential reaches its broker's origins and no one else (QUALITY items 17 and 18).

"Another host" is a recording server on a second loopback port: every test asserts it saw
nothing at all — no request, so no header and no body byte — whatever the session, the command
line or an adapter was asked to do, and that a same-origin redirect arrives signed anew (the
test double's sandbox verifies the signature, the nonce and the token of every hop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from brokerauth.adapters import httpx_auth, requests_auth
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import OriginError, ProfileError
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import RecordingServer, SandboxRequest, SandboxResponse, route
from doubles.sandbox import DoubleSandbox, _error
from test_cli import live_profile, run


class RedirectingDouble(DoubleSandbox):
    """The test double with a ``/hop`` that redirects (status and target set by the test) and a
    ``/api/landing`` that accepts only a correctly signed request with a valid token."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.status = 302
        self.location = "/api/landing"
        self.landed: list[tuple[str, bytes]] = []

    @route("GET", "/hop")
    @route("POST", "/hop")
    def hop(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(self.status, b"", (("Location", self.location),))

    @route("GET", "/api/landing")
    @route("POST", "/api/landing")
    def landing(self, request: SandboxRequest) -> SandboxResponse:
        refused = self._verify(request)
        if refused is not None:
            return refused
        grant, _ = self._bearer(request)
        if grant is None:
            return _error(401, "invalid_token", "no valid token")
        self.landed.append((request.method, request.body))
        return SandboxResponse.json({"landed": request.method})


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def double(manual_clock: ManualClock) -> Iterator[RedirectingDouble]:
    sandbox = RedirectingDouble(manual_clock)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def profile(double: RedirectingDouble, token_home: Path) -> Profile:
    return Profile.from_mapping("boundary", {"broker": "double", **double.profile_settings()})


# -- the session -------------------------------------------------------------------------


def test_session_refuses_an_absolute_url_to_another_origin(
    session_factory: Any, double: RedirectingDouble, recorder: RecordingServer
) -> None:
    session = session_factory(double)
    assert session.get("/api/me").status == 200  # a token exists and would be attached
    for method in ("GET", "POST"):
        with pytest.raises(OriginError) as caught:
            session.request(method, recorder.base_url + "/x", json={"symbol": "AAPL"})
        assert caught.value.origin == recorder.base_url
        assert "allowed_origins" in (caught.value.hint or "")
    assert recorder.seen == []


def test_session_sends_to_an_origin_the_profile_allows(
    session_factory: Any, double: RedirectingDouble, recorder: RecordingServer
) -> None:
    session = session_factory(double, allowed_origins=[recorder.base_url])
    assert session.get(recorder.base_url + "/x").status == 200
    assert len(recorder.seen) == 1


def test_session_returns_redirects_unfollowed(
    session_factory: Any, double: RedirectingDouble, recorder: RecordingServer
) -> None:
    session = session_factory(double)
    double.location = recorder.base_url + "/steal"
    for status in (301, 302, 303, 307, 308):
        double.status = status
        assert session.post("/hop", json={"order": 1}).status == status
    assert recorder.seen == []


def test_allowed_origins_are_checked_in_the_profile() -> None:
    table = {"broker": "double", "allowed_origins": ["http://data.example.com"]}
    with pytest.raises(ProfileError) as caught:
        Profile.from_mapping("p", table)
    assert caught.value.key == "allowed_origins"
    assert "https://" in str(caught.value)
    for bad in (["https://host.example/path"], "https://x.example", [1]):
        with pytest.raises(ProfileError):
            Profile.from_mapping("p", {"broker": "double", "allowed_origins": bad})
    fine = Profile.from_mapping("p", {"broker": "double", "allowed_origins": [
        "https://Data.Example.com:443", "http://127.0.0.1:9"]})
    assert fine.options.allowed_origins == ("https://data.example.com", "http://127.0.0.1:9")


def test_cli_request_refuses_another_origin(
    double: RedirectingDouble, recorder: RecordingServer, tmp_path: Path, token_home: Path
) -> None:
    double.clock = SystemClock()
    env = live_profile(double, tmp_path)
    assert run("request", "live", "GET", "/api/me", env=env).returncode == 0
    result = run("request", "live", "GET", recorder.base_url + "/x", env=env)
    assert result.returncode == 2, result.stderr
    assert "outside the profile's origins" in result.stderr
    assert "allowed_origins" in result.stderr
    assert recorder.seen == []


# -- the adapters: redirects -------------------------------------------------------------

STATUSES = (301, 302, 303, 307, 308)
METHODS = ("GET", "POST")
ADAPTERS = ("requests", "httpx", "httpx-async")
BODY = b'{"symbol":"AAPL","qty":1}'


def send(adapter: str, profile: Profile, clock: ManualClock, method: str, url: str) -> int:
    """One request through ``adapter`` with its library following redirects."""
    content = BODY if method == "POST" else None
    headers = {"Content-Type": "application/json"} if content else {}
    if adapter == "requests":
        auth = requests_auth(profile, clock=clock)
        return requests.request(method, url, data=content, headers=headers, auth=auth,
                                timeout=5).status_code
    if adapter == "httpx":
        with httpx.Client(auth=httpx_auth(profile, clock=clock), follow_redirects=True,
                          timeout=5) as client:
            return client.request(method, url, content=content, headers=headers).status_code

    async def go() -> int:
        async with httpx.AsyncClient(auth=httpx_auth(profile, clock=clock),
                                     follow_redirects=True, timeout=5) as client:
            response = await client.request(method, url, content=content, headers=headers)
            return response.status_code

    return asyncio.run(go())


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", STATUSES)
def test_a_redirect_to_another_origin_is_refused_and_nothing_reaches_it(
    adapter: str, method: str, status: int, profile: Profile, double: RedirectingDouble,
    recorder: RecordingServer, manual_clock: ManualClock,
) -> None:
    double.status = status
    double.location = recorder.base_url + "/steal"
    with pytest.raises(OriginError) as caught:
        send(adapter, profile, manual_clock, method, double.base_url + "/hop")
    assert caught.value.origin == recorder.base_url
    assert recorder.seen == []


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("status", STATUSES)
def test_a_same_origin_redirect_is_signed_anew(
    adapter: str, method: str, status: int, profile: Profile, double: RedirectingDouble,
    manual_clock: ManualClock,
) -> None:
    double.status = status
    double.location = "/api/landing"
    assert send(adapter, profile, manual_clock, method, double.base_url + "/hop") == 200
    keeps_body = status in (307, 308)
    expected_method = method if keeps_body else "GET"
    expected_body = BODY if keeps_body and method == "POST" else b""
    assert double.landed == [(expected_method, expected_body)]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_adapter_refuses_an_absolute_url_to_another_origin(
    adapter: str, profile: Profile, recorder: RecordingServer, manual_clock: ManualClock
) -> None:
    for method in METHODS:
        with pytest.raises(OriginError):
            send(adapter, profile, manual_clock, method, recorder.base_url + "/x")
    assert recorder.seen == []


def test_httpx_next_request_to_another_origin_is_refused(
    profile: Profile, double: RedirectingDouble, recorder: RecordingServer,
    manual_clock: ManualClock,
) -> None:
    double.location = recorder.base_url + "/steal"
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        response = client.post(double.base_url + "/hop", content=BODY)
        assert response.status_code == 302  # not followed: the caller decides
        assert response.next_request is not None
        # It carries no signature either: not for a caller who copies its headers, nor in a
        # repr of them (httpx's masks Authorization only).
        signature = {"x-double-client", "x-double-timestamp", "x-double-nonce",
                     "x-double-signature", "authorization"}
        assert signature.isdisjoint(name.lower() for name in response.next_request.headers)
        with pytest.raises(OriginError):
            client.send(response.next_request)
        with httpx.Client() as plain, pytest.raises(OriginError):  # it carries the guard
            plain.send(response.next_request)
    assert recorder.seen == []


def test_a_caller_trace_extension_still_runs(
    profile: Profile, double: RedirectingDouble, manual_clock: ManualClock
) -> None:
    events: list[str] = []

    def trace(name: str, info: dict[str, Any]) -> None:
        events.append(name)

    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock),
                      follow_redirects=True) as client:
        response = client.get(double.base_url + "/hop", extensions={"trace": trace})
    assert response.status_code == 200
    assert events.count("http11.send_request_headers.started") == 2


SIGNATURE = {"x-double-client", "x-double-timestamp", "x-double-nonce", "x-double-signature",
             "authorization"}


@pytest.mark.parametrize("elsewhere", [False, True], ids=["same-origin", "another-origin"])
@pytest.mark.parametrize("status", STATUSES)
def test_requests_allow_redirects_false_gets_the_redirect_unsigned(
    elsewhere: bool, status: int, profile: Profile, double: RedirectingDouble,
    recorder: RecordingServer, manual_clock: ManualClock,
) -> None:
    double.status = status
    double.location = recorder.base_url + "/steal" if elsewhere else "/api/landing"
    auth = requests_auth(profile, clock=manual_clock)
    with requests.Session() as http:
        direct = http.post(double.base_url + "/hop", data=BODY, auth=auth, timeout=5,
                           allow_redirects=False)
        prepared = http.prepare_request(
            requests.Request("POST", double.base_url + "/hop", data=BODY, auth=auth))
        sent = http.send(prepared, allow_redirects=False, timeout=5)
    for response in (direct, sent):
        assert response.status_code == status  # not followed: the caller decides
        assert response.history == []
        # What requests prepared to send on, and the request a caller would copy, carry no
        # credential of this origin's.
        assert response.next is not None
        for sent_on in (response.next, response.request):
            assert SIGNATURE.isdisjoint(name.lower() for name in sent_on.headers)
    assert double.landed == []
    assert recorder.seen == []
