"""What waiting for the Redis store's lock costs: one subscriber connection per store, made
once and outside the command pool (waiters never starve commands of connections, and a wait
opens no TCP connection of its own); a wait bounded by its timeout even while Redis is slow to
confirm the subscription; and a Redis user without Pub/Sub rights releases without a
warning, and is asked to subscribe once, not at every wait.

Every server is a real redis-server on loopback; the slow one is a real TCP proxy in front of
it that holds back the answer to a subscription.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth_redis import lock as lease
from brokerauth_redis import releases
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.store import RedisStore
from redis_helpers import RedisServer, make_token

PROMPT = 3.0


class Held:
    """``store``'s lock on each of ``keys``, held in a thread until :meth:`release`."""

    def __init__(self, store: RedisStore, keys: list[TokenKey]) -> None:
        self._go = threading.Barrier(len(keys) + 1, timeout=30)
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._hold, args=(store, key), daemon=True)
                         for key in keys]
        for thread in self._threads:
            thread.start()
        self._go.wait()

    def _hold(self, store: RedisStore, key: TokenKey) -> None:
        with store.lock(key, 5) as held:
            assert held
            self._go.wait()
            self._done.wait(60)

    def release(self) -> None:
        self._done.set()
        for thread in self._threads:
            thread.join(30)


class Waiting:
    """A thread entering ``store.lock(key, timeout)``: what it got, or what it raised."""

    def __init__(self, store: RedisStore, key: TokenKey, timeout: float) -> None:
        self.result: bool | None = None
        self.error: BaseException | None = None
        self.started_at = time.monotonic()
        self.done_at: float | None = None
        self.thread = threading.Thread(target=self._run, args=(store, key, timeout),
                                       daemon=True)
        self.thread.start()

    def _run(self, store: RedisStore, key: TokenKey, timeout: float) -> None:
        try:
            with store.lock(key, timeout) as held:
                self.result = held
        except BaseException as problem:
            self.error = problem
        finally:
            self.done_at = time.monotonic()

    def join(self, within: float = PROMPT + 10) -> None:
        self.thread.join(within)


def _subscribers(redis_server: RedisServer) -> int:
    client = redis_server.client()
    try:
        return sum(1 for entry in client.client_list()
                   if int(entry.get("psub", 0)) + int(entry.get("sub", 0)) > 0)
    finally:
        client.close()


def _connections_made(redis_server: RedisServer) -> int:
    client = redis_server.client()
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


def _until(condition: object, what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


@pytest.fixture
def stores(redis_server: RedisServer) -> Iterator[list[RedisStore]]:
    made: list[RedisStore] = []
    yield made
    for store in made:
        store.close()


def test_waiters_do_not_take_the_command_pools_connections(
    redis_server: RedisServer, stores: list[RedisStore]
) -> None:
    """Four waiters in a store whose pool has four connections: each attempt at the lock,
    and another user's read meanwhile, still find a connection."""
    holder = RedisStore(RedisStoreOptions(url=redis_server.url))
    waiting = RedisStore(RedisStoreOptions(url=redis_server.url + "?max_connections=4"))
    stores += [holder, waiting]
    other = TokenKey("fleet", "fresh-user")
    fresh = make_token("fresh")
    holder.save(other, fresh)
    keys = [TokenKey("fleet", f"user-{n}") for n in range(4)]
    held = Held(holder, keys)
    try:
        waiters = [Waiting(waiting, key, 30) for key in keys]
        _until(lambda: _subscribers(redis_server) >= 1, "nobody listened")
        time.sleep(0.2)  # the waiters' polls and attempts go on meanwhile
        token = waiting.load(other)
        assert token is not None
        assert token.access_token == fresh.access_token
    finally:
        held.release()
    for waiter in waiters:
        waiter.join()
    assert [(w.result, w.error) for w in waiters] == [(True, None)] * 4


def test_waits_share_one_subscriber_connection(
    redis_server: RedisServer, stores: list[RedisStore], key: TokenKey
) -> None:
    """Twenty waits in a row, while a holder holds: one connection is made for all of
    them (each used to open its own: a TCP, TLS and AUTH handshake per wait)."""
    holder = RedisStore(RedisStoreOptions(url=redis_server.url))
    waiting = RedisStore(RedisStoreOptions(url=redis_server.url))
    stores += [holder, waiting]
    waiting.load(key)  # its command connection, made before counting
    held = Held(holder, [key])
    try:
        before = _connections_made(redis_server)
        for _ in range(20):
            with waiting.lock(key, 0.05) as got:
                assert got is False
        # The subscriber's own connection, and that of the count itself.
        assert _connections_made(redis_server) - before <= 2
    finally:
        held.release()


def test_closing_the_store_closes_its_subscriber(
    redis_server: RedisServer, key: TokenKey
) -> None:
    holder = RedisStore(RedisStoreOptions(url=redis_server.url))
    waiting = RedisStore(RedisStoreOptions(url=redis_server.url))
    held = Held(holder, [key])
    try:
        with waiting.lock(key, 0.2) as got:
            assert got is False
        assert _subscribers(redis_server) == 1
        waiting.close()
        _until(lambda: _subscribers(redis_server) == 0, "the subscriber stayed",
               within=PROMPT)
    finally:
        held.release()
        holder.close()


class SlowToSubscribe:
    """A TCP proxy on loopback in front of ``port`` that passes everything at once, except
    an answer about a subscription, which it holds back ``delay`` seconds."""

    def __init__(self, port: int, delay: float) -> None:
        self._port = port
        self._delay = delay
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._port), timeout=5)
            for source, target, slow in ((client, upstream, False), (upstream, client, True)):
                thread = threading.Thread(target=self._pipe, args=(source, target, slow),
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pipe(self, source: socket.socket, target: socket.socket, slow: bool) -> None:
        source.settimeout(0.1)
        with source, target:
            while not self._stop.is_set():
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                if slow and b"subscribe" in data and self._stop.wait(self._delay):
                    return
                try:
                    target.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def slow_proxy(redis_server: RedisServer) -> Iterator[SlowToSubscribe]:
    proxy = SlowToSubscribe(redis_server.port, delay=8.0)
    try:
        yield proxy
    finally:
        proxy.close()


def test_a_wait_ends_at_its_timeout_while_the_subscription_is_unconfirmed(
    redis_server: RedisServer, slow_proxy: SlowToSubscribe, stores: list[RedisStore],
    key: TokenKey,
) -> None:
    holder = RedisStore(RedisStoreOptions(url=redis_server.url))
    waiting = RedisStore(RedisStoreOptions(url=f"redis://127.0.0.1:{slow_proxy.port}/0",
                                           socket_timeout=10))
    stores += [holder, waiting]
    waiting.load(key)
    held = Held(holder, [key])
    try:
        waiter = Waiting(waiting, key, 0.3)
        waiter.join()
        assert waiter.result is False
        assert waiter.done_at is not None
        assert waiter.done_at - waiter.started_at < 0.3 + 0.5
    finally:
        held.release()


def test_an_unconfirmed_subscription_keeps_the_short_polls(
    redis_server: RedisServer, slow_proxy: SlowToSubscribe, stores: list[RedisStore],
    key: TokenKey,
) -> None:
    """The holder releases while the waiter's subscription is still unconfirmed: the waiter
    gets the lock at a poll, long before the confirmation comes."""
    holder = RedisStore(RedisStoreOptions(url=redis_server.url))
    waiting = RedisStore(RedisStoreOptions(url=f"redis://127.0.0.1:{slow_proxy.port}/0",
                                           socket_timeout=10))
    stores += [holder, waiting]
    waiting.load(key)
    held = Held(holder, [key])
    try:
        waiter = Waiting(waiting, key, 6)
        time.sleep(0.2)  # the waiter has found the lock taken and asked to subscribe
    finally:
        released = time.monotonic()
        held.release()
    waiter.join()
    assert waiter.result is True
    assert waiter.done_at is not None
    assert waiter.done_at - released < 1.0


@pytest.fixture
def no_channels(redis_server: RedisServer) -> RedisServer:
    """The server's user may use every key but no Pub/Sub channel (Redis 7's default for a
    new user: acl-pubsub-default resetchannels)."""
    client = redis_server.client()
    try:
        client.execute_command("ACL", "SETUSER", "default", "resetchannels")
        client.execute_command("ACL", "LOG", "RESET")
    finally:
        client.close()
    return redis_server


def test_a_user_without_channel_rights_releases_without_a_warning(
    no_channels: RedisServer, stores: list[RedisStore], key: TokenKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisStore(RedisStoreOptions(url=no_channels.url))
    stores.append(store)
    with caplog.at_level(logging.WARNING, logger="brokerauth.store.redis"):
        with store.lock(key, 1) as held:
            assert held
        with store.lock(key, 0) as again:  # released: free at once
            assert again
    assert [record.getMessage() for record in caplog.records] == []


def _refused_subscriptions(redis_server: RedisServer) -> int:
    """How many subscriptions to a pattern the server refused (the ACL log counts repeats)."""
    client = redis_server.client()
    try:
        entries = client.acl_log()
    finally:
        client.close()
    return sum(int(entry["count"]) for entry in entries
               if entry["context"] == "toplevel" and str(entry["object"]).endswith(":released"))


def test_a_refused_subscription_is_not_asked_again_at_each_wait(
    no_channels: RedisServer, stores: list[RedisStore], key: TokenKey,
) -> None:
    holder = RedisStore(RedisStoreOptions(url=no_channels.url))
    waiting = RedisStore(RedisStoreOptions(url=no_channels.url))
    stores += [holder, waiting]
    held = Held(holder, [key])
    try:
        for _ in range(3):
            with waiting.lock(key, 0.2) as got:
                assert got is False
    finally:
        held.release()
    assert _refused_subscriptions(no_channels) == 1


def test_a_user_without_channel_rights_gets_the_lock_by_polling(
    no_channels: RedisServer, stores: list[RedisStore], key: TokenKey,
) -> None:
    holder = RedisStore(RedisStoreOptions(url=no_channels.url))
    waiting = RedisStore(RedisStoreOptions(url=no_channels.url))
    stores += [holder, waiting]
    held = Held(holder, [key])
    try:
        waiter = Waiting(waiting, key, 10)
        time.sleep(0.2)
    finally:
        released = time.monotonic()
        held.release()
    waiter.join()
    assert (waiter.result, waiter.error) == (True, None)
    assert waiter.done_at is not None
    assert waiter.done_at - released < 1.0


def test_store_errors_still_reach_the_waiter(
    redis_server: RedisServer, stores: list[RedisStore], key: TokenKey
) -> None:
    """Redis gone while a store has a subscriber: the next lock says so, as before."""
    holder = RedisStore(RedisStoreOptions(url=redis_server.url))
    waiting = RedisStore(RedisStoreOptions(url=redis_server.url, connect_timeout=1))
    stores += [holder, waiting]
    held = Held(holder, [key])
    try:
        with waiting.lock(key, 0.2) as got:
            assert got is False
    finally:
        held.release()
    redis_server.stop()
    with pytest.raises(StoreError), waiting.lock(key, 0.2):
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_listens_on_a_subscriber_of_its_own(
    redis_server: RedisServer, stores: list[RedisStore], key: TokenKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store that listened in the parent, used in a forked child (a pre-fork server): the
    child's waiter is woken by the release, not served by a poll (made huge here)."""
    monkeypatch.setattr(lease, "FIRST_POLL", 120.0)
    monkeypatch.setattr(lease, "MAX_POLL", 120.0)
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=120.0)
    holder, waiting = RedisStore(options), RedisStore(options)
    stores += [holder, waiting]
    held = Held(holder, [key])
    child = 0
    reading = -1
    try:
        with waiting.lock(key, 0.2) as got:  # the parent's subscriber is made
            assert got is False
        assert _subscribers(redis_server) == 1
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child's answer on the pipe is the check
            os.close(reading)
            try:
                with waiting.lock(key, 30) as got:
                    os.write(writing, b"held" if got else b"not held")
            finally:
                os._exit(0)
        os.close(writing)
        _until(lambda: _subscribers(redis_server) == 2, "the child never listened")
        released = time.monotonic()
        held.release()
        ready, _, _ = select.select([reading], [], [], PROMPT + 5)
        assert ready, "the child was not woken"
        assert os.read(reading, 64) == b"held"
        assert time.monotonic() - released < PROMPT
    finally:
        held.release()
        if reading >= 0:
            os.close(reading)
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)


def test_an_idle_subscriber_closes_and_the_next_wait_makes_another(
    redis_server: RedisServer, stores: list[RedisStore], key: TokenKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once no one has waited for a while the store stops listening (a quiet process is not
    sent every release of the fleet); the next wait listens again and is woken again."""
    monkeypatch.setattr(releases, "IDLE", 0.3)
    monkeypatch.setattr(lease, "FIRST_POLL", 120.0)
    monkeypatch.setattr(lease, "MAX_POLL", 120.0)
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=120.0)
    holder, waiting = RedisStore(options), RedisStore(options)
    stores += [holder, waiting]
    held = Held(holder, [key])
    try:
        with waiting.lock(key, 0.2) as got:
            assert got is False
        _until(lambda: _subscribers(redis_server) == 0, "the idle subscriber stayed",
               within=PROMPT)
        waiter = Waiting(waiting, key, 30)
        _until(lambda: _subscribers(redis_server) == 1, "the next wait never listened")
    finally:
        released = time.monotonic()
        held.release()
    waiter.join()
    assert (waiter.result, waiter.error) == (True, None)
    assert waiter.done_at is not None
    assert waiter.done_at - released < PROMPT
