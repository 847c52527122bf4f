"""requests and httpx adapters pass the native session's end-to-end checks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests
from brokerauth.adapters import httpx_auth, requests_auth
from brokerauth.engine.profiles import Profile


@pytest.fixture
def profile(double: Any, token_home: Any) -> Profile:
    return Profile.from_mapping("adapted", {"broker": "double", **double.profile_settings()})


@pytest.fixture(params=["requests", "httpx"])
def get(request: Any, profile: Profile, manual_clock: Any, double: Any) -> Any:
    if request.param == "requests":
        auth = requests_auth(profile, clock=manual_clock)
        with requests.Session() as http:
            yield lambda path, **kw: http.get(double.base_url + path, auth=auth, **kw)
        return
    with httpx.Client(auth=httpx_auth(profile, clock=manual_clock)) as client:
        yield lambda path, **kw: client.get(double.base_url + path, **kw)


def status(response: Any) -> int:
    return getattr(response, "status_code", 0)


def test_signed_with_token_attached(get: Any, double: Any) -> None:
    response = get("/api/me", params={"q": "a b,c"})
    assert status(response) == 200
    assert double.seen_tokens[-1] is not None


def test_401_refreshes_once_and_resends(get: Any, double: Any) -> None:
    assert status(get("/api/me")) == 200
    double.expire_access_tokens()
    assert status(get("/api/me")) == 200
    assert double.refresh_calls == 1
    assert double.count("GET", "/api/me") == 3


def test_second_401_is_returned_not_looped(get: Any, double: Any, monkeypatch: Any) -> None:
    assert status(get("/api/me")) == 200
    monkeypatch.setattr(type(double), "_bearer", lambda self, request: (None, None))
    assert status(get("/api/me")) == 401
    assert double.refresh_calls == 1


def test_expired_token_refreshed_before_sending(get: Any, double: Any, manual_clock: Any) -> None:
    assert status(get("/api/me")) == 200
    manual_clock.advance(double.token_lifetime + 1)
    assert status(get("/api/me")) == 200
    assert double.refresh_calls == 1
    assert double.count("GET", "/api/me") == 2


def test_clock_skew_learned(get: Any, double: Any) -> None:
    assert status(get("/api/me")) == 200
    double.clock_offset = 400
    assert status(get("/api/me")) == 200
    assert status(get("/api/me")) == 200
    assert double.count("GET", "/api/me") == 4  # one rejection, then accepted


def test_post_body_signed_exactly(profile: Profile, double: Any, manual_clock: Any) -> None:
    auth = requests_auth(profile, clock=manual_clock)
    response = requests.post(double.base_url + "/api/orders", json={"symbol": "ÄAPL", "q": 1},
                             auth=auth)
    assert response.status_code == 200
    assert double.orders == [{"symbol": "ÄAPL", "q": 1}]


def test_httpx_async_client(profile: Profile, double: Any, manual_clock: Any) -> None:
    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=httpx_auth(profile, clock=manual_clock)) as client:
            first = await client.get(double.base_url + "/api/me")
            double.expire_access_tokens()
            second = await client.post(double.base_url + "/api/orders", json={"q": 2})
            return [first.status_code, second.status_code]

    assert asyncio.run(main()) == [200, 200]
    assert double.refresh_calls == 1


@pytest.mark.parametrize("resent", [False, True], ids=["answered", "refreshed and resent"])
def test_a_response_keeps_nothing_of_the_flow(
    profile: Profile, double: Any, manual_clock: Any, resent: bool
) -> None:
    # Pickle-based response caches and multiprocessing copy responses: the flow's generator,
    # token and signature must not ride along on the request once the flow is over.
    import copy
    import pickle

    auth = requests_auth(profile, clock=manual_clock)
    with requests.Session() as http:
        assert http.get(double.base_url + "/api/me", auth=auth).status_code == 200
        if resent:
            double.expire_access_tokens()
        response = http.get(double.base_url + "/api/me", auth=auth)
        if resent:
            double.expire_access_tokens()
        heard: list[int] = []
        http.get(double.base_url + "/api/me", auth=auth,
                 hooks={"response": lambda r, **_: heard.append(r.status_code)})
    assert heard == [200]  # a caller's own hook still runs, once, on the final answer
    assert response.status_code == 200
    assert len(response.history) == int(resent)
    for request in (response.request, *(r.request for r in response.history)):
        assert not hasattr(request, "_brokerauth")
    assert pickle.loads(pickle.dumps(response)).status_code == 200
    assert copy.deepcopy(response).status_code == 200
