"""Waiters on the Redis store's lock are woken: a release is announced on the key's channel and
every waiter tries at once, not at its next poll; a wake-up that never comes (the lock removed
without a release) still ends at the poll, and the whole wait within its timeout; a waiter
that only wants the holder's token stops as soon as it is stored.

The poll is made huge (and the socket timeout with it, which caps a wait for an
announcement), so that only a wake-up can serve a waiter in the time allowed.  Holder and
waiter are two stores, each with its own connections, as two processes would be.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.refresh import StoppableLock
from brokerauth_redis import lock as lease
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_redis.store import key_names
from redis_helpers import RedisServer, make_token

HUGE = 120.0
PROMPT = 3.0


@pytest.fixture
def slow(redis_server: RedisServer) -> RedisStoreOptions:
    """Options under which a waiter that is not woken waits far longer than PROMPT."""
    return RedisStoreOptions(url=redis_server.url, lock_ttl=HUGE, socket_timeout=HUGE)


@pytest.fixture
def huge_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease, "FIRST_POLL", HUGE)
    monkeypatch.setattr(lease, "MAX_POLL", HUGE)


@pytest.fixture
def plugins() -> Iterator[tuple[RedisPlugin, RedisPlugin]]:
    holder, waiter = RedisPlugin(), RedisPlugin()
    yield holder, waiter
    holder.close()
    waiter.close()


class Waiter:
    """A thread entering ``lock``: when it got in (or gave up), and with what."""

    def __init__(self, lock: AbstractContextManager[bool]) -> None:
        self.result: bool | None = None
        self.done_at: float | None = None
        self.started_at = time.monotonic()
        self.thread = threading.Thread(target=self._run, args=(lock,), daemon=True)
        self.thread.start()

    def _run(self, lock: AbstractContextManager[bool]) -> None:
        with lock as held:
            self.done_at = time.monotonic()
            self.result = held

    def join(self) -> None:
        self.thread.join(PROMPT + 5)


def _lock(plugin: RedisPlugin, key: TokenKey, options: RedisStoreOptions,
          timeout: float) -> AbstractContextManager[bool]:
    lock = plugin.lock_token("redis", key, options, timeout)
    assert lock is not None
    return lock


def _subscribers(redis_server: RedisServer) -> int:
    """How many connections to the server listen to Pub/Sub (a store's releases)."""
    client = redis_server.client()
    try:
        return sum(1 for entry in client.client_list()
                   if int(entry.get("psub", 0)) + int(entry.get("sub", 0)) > 0)
    finally:
        client.close()


def _listening(redis_server: RedisServer, key: TokenKey, options: RedisStoreOptions,
               stores: int = 1) -> None:
    """Until ``stores`` waiting stores have subscribed to the locks' releases (each found the
    lock taken)."""
    deadline = time.monotonic() + 30
    while _subscribers(redis_server) < stores:
        assert time.monotonic() < deadline, "the waiter never subscribed"
        time.sleep(0.005)


@pytest.mark.usefixtures("huge_poll")
def test_a_release_wakes_the_waiter_at_once(
    redis_server: RedisServer, slow: RedisStoreOptions, key: TokenKey,
    plugins: tuple[RedisPlugin, RedisPlugin],
) -> None:
    holder_plugin, waiter_plugin = plugins
    holding = holder_plugin.lock_token("redis", key, slow, 5)
    assert holding is not None
    with holding as held:
        assert held
        waiter = Waiter(_lock(waiter_plugin, key, slow, 60))
        _listening(redis_server, key, slow)
        assert waiter.result is None
        released = time.monotonic()
    waiter.join()
    assert waiter.result is True
    assert waiter.done_at is not None
    assert waiter.done_at - released < PROMPT


@pytest.mark.usefixtures("huge_poll")
def test_every_waiter_hears_the_release(
    redis_server: RedisServer, slow: RedisStoreOptions, key: TokenKey,
) -> None:
    """Three waiters (three stores): the release wakes them all; the first in releases in
    turn, which wakes the next, so all are through long before any poll."""
    stores = [RedisPlugin() for _ in range(4)]
    try:
        holding = stores[0].lock_token("redis", key, slow, 5)
        assert holding is not None
        with holding as held:
            assert held
            waiters = [Waiter(_lock(s, key, slow, 60)) for s in stores[1:]]
            _listening(redis_server, key, slow, stores=3)
            released = time.monotonic()
        for waiter in waiters:
            waiter.join()
        assert [w.result for w in waiters] == [True, True, True]
        assert max(w.done_at or HUGE for w in waiters) - released < PROMPT
    finally:
        for store in stores:
            store.close()


def test_a_lost_wake_up_still_ends_at_the_poll(
    redis_server: RedisServer, key: TokenKey, plugins: tuple[RedisPlugin, RedisPlugin],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lock vanishes without a release (removed by hand; a lease run out is the same):
    nothing is announced, and the waiter gets in at its poll, within its timeout."""
    monkeypatch.setattr(lease, "FIRST_POLL", 0.2)
    monkeypatch.setattr(lease, "MAX_POLL", 0.2)
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=HUGE)
    holder_plugin, waiter_plugin = plugins
    holding = holder_plugin.lock_token("redis", key, options, 5)
    assert holding is not None
    with holding as held:
        assert held
        waiter = Waiter(_lock(waiter_plugin, key, options, 30))
        _listening(redis_server, key, options)
        client = redis_server.client()
        try:
            removed = time.monotonic()
            assert client.delete(key_names(options.key_prefix, key).lock) == 1
        finally:
            client.close()
        waiter.join()
        assert waiter.result is True
        assert waiter.done_at is not None
        assert waiter.done_at - removed < PROMPT


@pytest.mark.usefixtures("huge_poll")
def test_the_wait_ends_at_its_timeout_whatever_the_poll(
    redis_server: RedisServer, slow: RedisStoreOptions, key: TokenKey,
    plugins: tuple[RedisPlugin, RedisPlugin],
) -> None:
    holder_plugin, waiter_plugin = plugins
    holding = holder_plugin.lock_token("redis", key, slow, 5)
    assert holding is not None
    with holding as held:
        assert held
        waiter = Waiter(_lock(waiter_plugin, key, slow, 0.5))
        waiter.join()
        assert waiter.result is False
        assert waiter.done_at is not None
        assert 0.5 <= waiter.done_at - waiter.started_at < PROMPT


def test_stop_when_ends_the_wait_once_the_holder_stored_its_token(
    redis_server: RedisServer, key: TokenKey, plugins: tuple[RedisPlugin, RedisPlugin],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The holder stores the new token and keeps the lock (a slow notice, say): a waiter
    that wants only the token stops at its next check, without the lock."""
    monkeypatch.setattr(lease, "FIRST_POLL", 0.05)
    monkeypatch.setattr(lease, "MAX_POLL", 0.05)
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=HUGE)
    holder_plugin, waiter_plugin = plugins
    new = make_token("new")
    holding = holder_plugin.lock_token("redis", key, options, 5)
    assert holding is not None
    with holding as held:
        assert held
        waiting = waiter_plugin.lock_token("redis", key, options, 60)
        assert isinstance(waiting, StoppableLock)

        def stored() -> bool:
            token = waiter_plugin.load_token("redis", key, options)
            return token is not None and token.access_token == new.access_token

        waiting.stop_when(stored)
        waiter = Waiter(waiting)
        _listening(redis_server, key, options)
        holder_plugin.store_token("redis", key, new, options)
        saved = time.monotonic()
        waiter.join()
        assert waiter.result is False
        assert waiter.done_at is not None
        assert waiter.done_at - saved < PROMPT


def _attempts(redis_server: RedisServer) -> int:
    """Scripts run by the server so far (an attempt at a lock is one, a release another)."""
    client = redis_server.client()
    try:
        return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        client.close()


@pytest.mark.usefixtures("huge_poll")
def test_a_listening_store_tries_the_lock_once_then_waits_for_its_release(
    redis_server: RedisServer, slow: RedisStoreOptions, key: TokenKey,
    plugins: tuple[RedisPlugin, RedisPlugin],
) -> None:
    """A store that listens for releases already (it waited before) listens before its
    first attempt: one attempt, then the wait, then the attempt that gets in when the
    release is heard; not a second attempt in case the lock was released before it
    listened (that costs every waiter of a crowd a round trip while the holder refreshes)."""
    holder_plugin, waiter_plugin = plugins
    for round_ in range(2):
        holding = holder_plugin.lock_token("redis", key, slow, 5)
        assert holding is not None
        with holding as held:
            assert held
            before = _attempts(redis_server)
            waiter = Waiter(_lock(waiter_plugin, key, slow, 60))
            if round_ == 0:
                _listening(redis_server, key, slow)  # the store's subscriber, from now on
            deadline = time.monotonic() + 30
            while _attempts(redis_server) == before:  # its first attempt, refused
                assert time.monotonic() < deadline, "the waiter never tried the lock"
                time.sleep(0.005)
            released = time.monotonic()
        waiter.join()
        assert waiter.result is True
        assert waiter.done_at is not None
        assert waiter.done_at - released < PROMPT
        # Less the two releases, the holder's and the waiter's own.
        waiter_attempts = _attempts(redis_server) - before - 2
        if round_ == 1:
            assert waiter_attempts == 2, "refused, then in once the release was heard"


def test_the_release_does_not_wait_for_a_renewal_under_way(
    redis_server: RedisServer, key: TokenKey, plugins: tuple[RedisPlugin, RedisPlugin],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The holder leaves while its renewer thread is inside a renewal (Redis slow to answer
    it): the lock is released, and the waiter in, at once, not once the renewer has stopped;
    the renewal that then meets a lock no longer this holder's is no lapse to warn of."""
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=3)  # a renewal each second
    holder_plugin, waiter_plugin = plugins
    lock = holder_plugin.store_for(options).lock(key, 5)
    renewing, may_renew = threading.Event(), threading.Event()
    renew = lock._renew

    def slow_renewal(value: str, ttl_ms: int) -> bool:
        renewing.set()
        assert may_renew.wait(10)
        return renew(value, ttl_ms)

    lock._renew = slow_renewal
    caplog.set_level(logging.WARNING, logger="brokerauth.store.redis")
    try:
        with lock as held:
            assert held
            waiter = Waiter(_lock(waiter_plugin, key, options, 30))
            assert renewing.wait(10)  # the renewer is inside its renewal
            left = time.monotonic()
            assert waiter.result is None
        waiter.join()
        assert waiter.result is True
        assert waiter.done_at is not None
        assert waiter.done_at - left < 0.5  # the renewer is still blocked
    finally:
        may_renew.set()
    assert lock._renewer is not None
    lock._renewer.join(10)
    assert not lock._renewer.is_alive()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
