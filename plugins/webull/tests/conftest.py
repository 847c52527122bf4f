from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brokerauth
import pytest
import urllib3
from brokerauth.contract.interaction import Interaction
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.canary import token_stores
from brokerauth_sandbox.clock import ManualClock
from brokerauth_webull.sandbox.server import WebullSandbox
from webull_helpers import CANARY_KEY, CANARY_SECRET, Client

# The official SDK's token file (brokerauth_webull.sdk_token) holds a token on purpose.
token_stores(files=("token.txt",))


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


@pytest.fixture
def webull(sandbox_factory: Callable[..., Any], manual_clock: ManualClock) -> WebullSandbox:
    """A Webull sandbox from the plugin's make_sandbox hook, on the test's manual clock, with
    the 2FA token required (tests switch it off where they need to)."""
    sandbox: WebullSandbox = sandbox_factory("webull", clock=manual_clock)
    sandbox.two_factor_required = True
    return sandbox


@pytest.fixture
def open_session(
    token_home: Path, plugin_host: PluginHost, manual_clock: ManualClock
) -> Iterator[Callable[..., Session]]:
    """``open_session(sandbox, interaction=..., **profile_keys)``: a session on a profile
    pointed at ``sandbox``, sharing the sandbox's manual clock, with the file store under
    ``token_home`` (the core's ``session_factory`` takes no interaction)."""
    opened: list[Session] = []

    def make(
        sandbox: WebullSandbox,
        *,
        interaction: Interaction | None = None,
        name: str = "wb",
        **keys: Any,
    ) -> Session:
        table = {"broker": "webull", **sandbox.profile_settings(), **keys}
        session = brokerauth.session(
            Profile.from_mapping(name, table),
            clock=manual_clock,
            interaction=interaction,
            host=plugin_host,
        )
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()
