from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.pluginhost import PluginHost
from brokerauth_redis import releases
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from cryptography.fernet import Fernet
from redis_helpers import RedisServer


@pytest.fixture(scope="module", autouse=True)
def double_installed(bearer_double_installed: None) -> None:
    """The test bench's bearer double (brokerauth_sandbox.bearer) is an installed plugin while
    a module of these tests runs, in this process and in every process it starts (spawned
    fleets), and in no one else's tests."""


@pytest.fixture(autouse=True)
def _no_listener_outlives_its_test() -> Iterator[None]:
    """Each test's stores listen for lock releases on their own server: their listeners are
    closed when the test ends, so none keeps reconnecting to a server that is gone while a
    later test runs (one that counts name lookups, say)."""
    yield
    releases.close_all()


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
def double(bearer_double: Any) -> Any:
    """A started sandbox of the bearer double on the test's manual clock."""
    return bearer_double
