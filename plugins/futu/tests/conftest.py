from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.engine.api import session as open_session
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.sessions import Session
from brokerauth_futu.sandbox.server import FutuSandbox
from brokerauth_sandbox.canary import token_stores
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sandbox.server import HeadlessBrowser
from futu_helpers import CANARY_KEY, CANARY_SECRET, CANARY_TOKEN, free_port, redirect_for

# The Futu SDK's folder holds tokens and client registrations on purpose.
token_stores(folders=(".futu",))

_FUTU_VARIABLES = (
    "FUTU_APP_KEY", "FUTU_APP_SECRET", "FUTU_ACCESS_TOKEN", "FUTU_HTTP_URL",
    "FUTU_QUOTE_WS_URL", "FUTU_TRADE_WS_URL", "FUTU_LANGUAGE", "FUTU_REGION", "FUTU_LOG_PATH",
)


@pytest.fixture(autouse=True)
def futu_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own token folder and home: nothing may touch the real ~/.futu."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("BROKERAUTH_HOME", str(tmp_path / "brokerauth-home"))
    folder = tmp_path / "futu" / "tokens"
    monkeypatch.setenv("FUTU_TOKEN_DIR", str(folder))
    for name in _FUTU_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return folder


@pytest.fixture
def clock(manual_clock: ManualClock) -> ManualClock:
    return manual_clock


@pytest.fixture
def make_sandbox(clock: ManualClock, futu_tokens: Path) -> Iterator[Callable[..., FutuSandbox]]:
    started: list[FutuSandbox] = []

    def make(**options: Any) -> FutuSandbox:
        options.setdefault("app_key", CANARY_KEY)
        options.setdefault("app_secret", CANARY_SECRET)
        options.setdefault("access_token", CANARY_TOKEN)
        sandbox = FutuSandbox(clock, **options)
        sandbox.token_dir = str(futu_tokens)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., FutuSandbox]) -> FutuSandbox:
    return make_sandbox()


@pytest.fixture
def browser() -> HeadlessBrowser:
    return HeadlessBrowser()


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def open_futu(
    clock: ManualClock, browser: HeadlessBrowser, plugin_host: PluginHost
) -> Iterator[Callable[..., Session]]:
    """``open_futu(sandbox, name="p", **profile_keys)``: a session on a futu profile pointed
    at the sandbox, sharing the test's clock and approving logins headlessly."""
    opened: list[Session] = []

    def make(sandbox: FutuSandbox, *, name: str = "futu-test", **keys: Any) -> Session:
        table = {"broker": "futu", **sandbox.profile_settings(), **keys}
        session = open_session(Profile.from_mapping(name, table), clock=clock,
                               interaction=browser, host=plugin_host)
        opened.append(session)
        return session

    yield make
    for session in opened:
        session.close()


@pytest.fixture
def oauth_sandbox(make_sandbox: Callable[..., FutuSandbox], port: int) -> FutuSandbox:
    """A sandbox whose profiles are OAuth ones, redirecting to a free loopback port, with no
    client id (so the first login registers one)."""
    sandbox = make_sandbox(profile_mode="oauth")
    sandbox.profile_redirect_uri = redirect_for(port)
    return sandbox
