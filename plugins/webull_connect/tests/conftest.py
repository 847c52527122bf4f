from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import brokerauth
import pytest
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import HeadlessBrowser
from brokerauth_webull_connect.sandbox.server import ConnectSandbox
from connect_helpers import profile_for


@pytest.fixture
def connect(sandbox_factory: Any, manual_clock: ManualClock) -> ConnectSandbox:
    """A started Webull Connect sandbox on the test's manual clock, approving at once."""
    sandbox: ConnectSandbox = sandbox_factory("webull_connect", clock=manual_clock)
    sandbox.auto_approve = True
    return sandbox


@pytest.fixture
def browser() -> HeadlessBrowser:
    return HeadlessBrowser()


@pytest.fixture
def make_session(
    token_home: Any, plugin_host: PluginHost, connect: ConnectSandbox, browser: HeadlessBrowser
) -> Iterator[Callable[..., Session]]:
    """``make_session(user=..., interaction=..., sandbox=..., **profile_keys)``: a session on
    a profile pointed at the sandbox, logging in through the headless browser by default."""
    opened: list[Session] = []

    def make(
        *,
        name: str = "connect",
        user: str | None = None,
        interaction: Any = None,
        sandbox: ConnectSandbox | None = None,
        **keys: Any,
    ) -> Session:
        target = sandbox or connect
        session = brokerauth.session(
            profile_for(target, name, **keys),
            user=user,
            clock=target.clock,
            host=plugin_host,
            interaction=interaction or browser,
        )
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()
