from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from brokerauth.clock import ManualClock
from brokerauth_webull.sandbox import WebullSandbox
from webull_helpers import CANARY_KEY, CANARY_SECRET, Client


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False, timeout=5.0) as pool:
        yield pool


@pytest.fixture
def make_sandbox(clock: ManualClock) -> Iterator[Callable[..., WebullSandbox]]:
    started: list[WebullSandbox] = []

    def make(**options: Any) -> WebullSandbox:
        options.setdefault("app_key", CANARY_KEY)
        options.setdefault("app_secret", CANARY_SECRET)
        sandbox = WebullSandbox(clock, **options)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., WebullSandbox]) -> WebullSandbox:
    return make_sandbox()


@pytest.fixture
def client(sandbox: WebullSandbox, http: urllib3.PoolManager, clock: ManualClock) -> Client:
    return Client(sandbox, http, clock)


@pytest.fixture
def make_client(http: urllib3.PoolManager, clock: ManualClock) -> Callable[[WebullSandbox], Client]:
    return lambda sandbox: Client(sandbox, http, clock)
