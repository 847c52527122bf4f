"""A request the httpx adapter sends again after a refresh is guarded like the first: when the
resent request is redirected to another origin, the redirect is refused and nothing reaches
the other host (the guard steps aside once an answer that is not a redirect is in, and must be
back for the resend)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from brokerauth.adapters import httpx_auth
from brokerauth.contract.errors import OriginError
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import RecordingServer, SandboxRequest, SandboxResponse, route
from doubles.sandbox import DoubleSandbox, _error


class RejectThenRedirect(DoubleSandbox):
    """``/hop`` answers the first request with a 401 (invalid token), every later one with a
    302 to ``location``."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.location = ""
        self.hops = 0

    @route("GET", "/hop")
    def hop(self, request: SandboxRequest) -> SandboxResponse:
        self.hops += 1
        if self.hops == 1:
            return _error(401, "invalid_token", "the access token expired")
        return SandboxResponse(302, b"", (("Location", self.location),))


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


@pytest.fixture
def double(manual_clock: ManualClock) -> Iterator[RejectThenRedirect]:
    sandbox = RejectThenRedirect(manual_clock)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def profile(double: RejectThenRedirect, token_home: Path) -> Profile:
    return Profile.from_mapping("boundary", {"broker": "double", **double.profile_settings()})


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_resent_request_redirected_elsewhere_is_refused(
    mode: str, profile: Profile, double: RejectThenRedirect, recorder: RecordingServer,
    manual_clock: ManualClock,
) -> None:
    double.location = recorder.base_url + "/steal"
    url = double.base_url + "/hop"
    auth = httpx_auth(profile, clock=manual_clock)

    def get() -> None:
        if mode == "sync":
            with httpx.Client(auth=auth, follow_redirects=True, timeout=5) as client:
                client.get(url)
            return

        async def go() -> None:
            async with httpx.AsyncClient(auth=auth, follow_redirects=True, timeout=5) as client:
                await client.get(url)

        asyncio.run(go())

    with pytest.raises(OriginError) as caught:
        get()
    assert caught.value.origin == recorder.base_url
    assert double.hops == 2  # rejected, refreshed, sent again: then redirected
    assert double.refresh_calls == 1
    assert recorder.seen == []
