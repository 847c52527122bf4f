from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_sandbox.clock import ManualClock
from cryptography.fernet import Fernet
from redis_helpers import RedisServer

TESTS = Path(__file__).resolve().parent
#: The bearer double's metadata, as pip would have installed it (see bearer_double).
DOUBLE_INSTALLED = TESTS / "bearer_double" / "installed"


@pytest.fixture(scope="module", autouse=True)
def double_installed() -> Iterator[None]:
    """The bearer double is an installed plugin while a module of these tests runs, in this
    process and in every process it starts (spawned fleets), and in no one else's tests."""
    path = [str(DOUBLE_INSTALLED), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(DOUBLE_INSTALLED))
        patch.setenv("PYTHONPATH", os.pathsep.join(path))
        yield


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server on a free loopback port, stopped after the test."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def options(redis_server: RedisServer) -> RedisStoreOptions:
    return RedisStoreOptions(url=redis_server.url)


@pytest.fixture
def plugin() -> Iterator[RedisPlugin]:
    made = RedisPlugin()
    yield made
    made.close()


@pytest.fixture
def host() -> PluginHost:
    return PluginHost.create()


@pytest.fixture
def key() -> TokenKey:
    return TokenKey("fleet", "default")


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Fernet key in $BROKERAUTH_TEST_REDIS_KEY (inherited by spawned processes)."""
    value = Fernet.generate_key().decode()
    monkeypatch.setenv("BROKERAUTH_TEST_REDIS_KEY", value)
    return value


@pytest.fixture
def double(sandbox_factory: Any, manual_clock: ManualClock) -> Any:
    """A started sandbox of the bearer double on the test's manual clock."""
    return sandbox_factory("bearer_double", clock=manual_clock)
