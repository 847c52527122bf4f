"""The async httpx adapter keeps the event loop free without leaving it for nothing: a fresh
token held in memory is served on the loop, no worker thread; a token that must be obtained
or refreshed goes to a thread, and is refreshed once however many tasks need it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import httpx
import pytest
from brokerauth.adapters import httpx_auth
from brokerauth.engine.profiles import Profile

TASKS = 16


@pytest.fixture
def profile(double: Any, token_home: Any) -> Profile:
    return Profile.from_mapping("adapted", {"broker": "double", **double.profile_settings()})


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function the adapter sends to a worker thread."""
    seen: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return seen


def test_fresh_token_served_on_the_loop(profile: Profile, double: Any, manual_clock: Any,
                                        hops: list[str]) -> None:
    async def main() -> tuple[int, int, list[int]]:
        async with httpx.AsyncClient(auth=httpx_auth(profile, clock=manual_clock)) as client:
            first = await client.get(double.base_url + "/api/me")  # obtains the token
            obtained = len(hops)
            answers = await asyncio.gather(
                *(client.get(double.base_url + "/api/me") for _ in range(TASKS)))
            return first.status_code, obtained, [a.status_code for a in answers]

    first, obtained, statuses = asyncio.run(main())
    assert (first, statuses) == (200, [200] * TASKS)
    assert obtained == 1  # no token in memory yet: that one went to a thread
    assert len(hops) == 1  # the TASKS requests with a fresh token never left the loop
    assert double.count("GET", "/api/me") == TASKS + 1
    assert double.seen_tokens[-1] is not None


def test_expired_token_refreshed_in_a_thread_once(profile: Profile, double: Any,
                                                  manual_clock: Any, hops: list[str]) -> None:
    async def main() -> list[int]:
        async with httpx.AsyncClient(auth=httpx_auth(profile, clock=manual_clock)) as client:
            assert (await client.get(double.base_url + "/api/me")).status_code == 200
            manual_clock.advance(double.token_lifetime + 1)
            hops.clear()
            answers = await asyncio.gather(
                *(client.get(double.base_url + "/api/me") for _ in range(TASKS)))
            return [a.status_code for a in answers]

    assert asyncio.run(main()) == [200] * TASKS
    assert double.refresh_calls == 1  # single flight, across the worker threads
    # Every task found the token expired before the refresh was in: each waited in a thread.
    assert 1 <= len(hops) <= TASKS
    assert double.count("GET", "/api/me") == TASKS + 1  # none was sent with the expired token


def test_rejected_token_refreshed_in_a_thread(profile: Profile, double: Any,
                                              manual_clock: Any, hops: list[str]) -> None:
    async def main() -> tuple[int, int]:
        async with httpx.AsyncClient(auth=httpx_auth(profile, clock=manual_clock)) as client:
            assert (await client.get(double.base_url + "/api/me")).status_code == 200
            double.expire_access_tokens()
            hops.clear()
            answer = await client.get(double.base_url + "/api/me")
            return answer.status_code, double.refresh_calls

    assert asyncio.run(main()) == (200, 1)
    assert hops == ["_judge"]  # the 401 was judged (and the token refreshed) off the loop
