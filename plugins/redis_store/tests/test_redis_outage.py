"""Redis going away and coming back while sessions run."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from brokerauth.contract.errors import LoginRequiredError, RefreshError
from brokerauth.contract.tokens import TokenKey
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_sandbox.clock import ManualClock
from redis_helpers import RedisServer, make_token, redis_store


def test_requests_go_on_while_redis_is_down_and_the_token_is_valid(
    double: Any, session_factory: Any, redis_server: RedisServer, manual_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_factory(double, name="fleet", store=redis_store(redis_server.url))
    assert session.get("/api/me").ok
    token = session.token
    refreshes = double.refresh_calls

    # Four threads keep trading while Redis is stopped under them.
    outcomes: list[str] = []
    stop = threading.Event()

    def trade() -> None:
        while not stop.is_set():
            try:
                outcomes.append(str(session.get("/api/me").status))
            except Exception as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}")

    traders = [threading.Thread(target=trade) for _ in range(4)]
    for trader in traders:
        trader.start()
    try:
        time.sleep(0.2)
        redis_server.stop()
        during = len(outcomes)
        time.sleep(0.3)
        # Into the early-refresh window: one caller tries, cannot lock, and says so.
        manual_clock.advance(double.token_lifetime - 200)
        time.sleep(0.3)
    finally:
        stop.set()
        for trader in traders:
            trader.join(timeout=10)
    assert len(outcomes) > during + 10, "requests should have gone on during the outage"
    assert set(outcomes) == {"200"}
    assert session.token == token
    assert double.refresh_calls == refreshes, "no refresh may happen without the lock"
    assert any("early refresh failed" in r.getMessage() and "Redis" in r.getMessage()
               for r in caplog.records)

    # Once the token must be refreshed, a clear error: Redis is needed for the lock.
    manual_clock.advance(200)
    with pytest.raises(RefreshError) as info:
        session.get("/api/me")
    assert "Redis at redis://127.0.0.1:" in str(info.value)
    assert "reachable" in (info.value.hint or "")
    assert double.refresh_calls == refreshes
    assert double.seen_tokens.count(None) == 0

    # Redis returns empty (it kept nothing, having no persistence): the same session
    # reconnects, and finds no token, which is what a logout elsewhere leaves too. The copy
    # it holds is not refreshed back into the store: the user logs in again.
    redis_server.start(keep_port=True)
    with pytest.raises(LoginRequiredError) as gone:
        session.get("/api/me")
    assert "no longer in the store" in str(gone.value)
    assert double.refresh_calls == refreshes
    assert session.binding.load() is None
    # A login (here, the flow's own: the double needs no person) stores a new token.
    assert session.get("/api/me").ok
    assert session.token != token
    assert session.binding.load() == session.token


def test_the_store_reconnects_when_redis_returns(
    plugin: RedisPlugin, options: RedisStoreOptions, redis_server: RedisServer, key: TokenKey
) -> None:
    token = make_token()
    plugin.store_token("redis", key, token, options)
    assert plugin.load_token("redis", key, options) == token
    redis_server.stop()
    with pytest.raises(Exception, match="cannot read the token") as info:
        plugin.load_token("redis", key, options)
    assert type(info.value).__name__ == "StoreError"
    redis_server.start(keep_port=True)
    # The pooled connection broke with the restart: the next command opens a new one.
    assert plugin.load_token("redis", key, options) is None
    plugin.store_token("redis", key, token, options)
    with plugin.lock_token("redis", key, options, 0) as held:  # type: ignore[union-attr]
        assert held is True
    assert plugin.load_token("redis", key, options) == token


def test_losing_redis_while_holding_the_lock_fails_the_write_not_the_process(
    plugin: RedisPlugin, options: RedisStoreOptions, redis_server: RedisServer, key: TokenKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lock = plugin.lock_token("redis", key, options, 0)
    assert lock is not None
    with lock as held:
        assert held
        redis_server.stop()
        with pytest.raises(Exception, match="cannot store the token") as info:
            plugin.store_token("redis", key, make_token(), options)
        assert type(info.value).__name__ == "StoreError"
    # Leaving the lock could not release it: logged, and the lease frees it by itself.
    assert any("could not release the refresh lock" in r.getMessage() for r in caplog.records)
    redis_server.start(keep_port=True)
    again = plugin.lock_token("redis", key, options, 0)
    assert again is not None
    with again as held_again:
        assert held_again is True
