"""Many processes, one Redis: single-flight refresh, killed and frozen lock holders."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import brokerauth
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.profiles import Profile
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_sandbox.bearer.helpers import (
    check_one_refresh,
    expired_everywhere,
    profile_over,
    race_sessions,
    token_fields,
)
from brokerauth_sandbox.fleet import run_fleet
from redis_helpers import RedisServer, make_token, redis_store


def _stop_child(process: Any) -> None:
    if process.is_alive():
        process.kill()
    process.join(timeout=10)


def test_16_processes_x_8_threads_share_one_refresh(
    sandbox_factory: Any, redis_server: RedisServer, fernet_key: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    double.refresh_delay = 0.1  # widen the window in which everyone wants to refresh
    store = redis_store(redis_server.url, encryption_key={"env": "BROKERAUTH_TEST_REDIS_KEY"})
    profile = profile_over(double, store)
    # Expired for everyone: in Redis and on the server.
    expired = expired_everywhere(profile, double)

    statuses = run_fleet(profile, path="/api/me", processes=16, threads=8)
    # The encryption key reaches the children through the environment they inherit.
    assert statuses == ["200"] * 128
    check_one_refresh(profile, double, expired)


def test_a_dead_refresh_token_costs_one_call_for_4_processes_x_16_threads(
    sandbox_factory: Any, redis_server: RedisServer, fernet_key: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    double.refresh_delay = 0.1
    store = redis_store(redis_server.url, encryption_key={"env": "BROKERAUTH_TEST_REDIS_KEY"})
    profile = profile_over(double, store)
    expired_everywhere(profile, double)
    double.kill_refresh_tokens()

    outcomes = run_fleet(profile, path="/api/me", processes=4, threads=16)
    assert len(outcomes) == 64
    assert all(o.startswith(("LoginRequiredError", "AuthorizationError")) for o in outcomes), {
        o.split(":")[0] for o in outcomes}
    assert double.refresh_calls == 1


def test_a_killed_lock_holder_is_replaced_within_the_lease(
    sandbox_factory: Any, redis_server: RedisServer
) -> None:
    lock_ttl = 1.0
    double = sandbox_factory("bearer_double", clock=SystemClock())
    profile = Profile.from_mapping("fleet", {
        "broker": "bearer_double", **double.profile_settings(),
        "store": redis_store(redis_server.url, lock_ttl=lock_ttl),
    })
    session = brokerauth.session(profile)
    try:
        assert session.get("/api/me").ok
        token = session.token
        session.binding.save(token.replace(expires_at=token.issued_at))
        session.tokens.forget()
        double.expire_access_tokens()

        from redis_workers import hold_lock

        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        options = RedisStoreOptions(url=redis_server.url, lock_ttl=lock_ttl)
        child = context.Process(target=hold_lock,
                                args=(options, TokenKey("fleet", "default"), ready))
        child.start()
        try:
            assert ready.get(timeout=60) is True
            # A live holder keeps its lease past the TTL: nobody else gets the lock.
            time.sleep(lock_ttl * 1.5)
            with session.binding.lock(0) as held:
                assert held is False
            os.kill(child.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            response = session.get("/api/me")
            waited = time.monotonic() - killed_at
        finally:
            _stop_child(child)
        assert response.status == 200
        assert double.refresh_calls == 1
        assert waited < lock_ttl + 0.5, f"the lock came free only after {waited:.2f} s"
    finally:
        session.close()


def test_a_holder_frozen_past_its_lease_cannot_overwrite_a_newer_token(
    redis_server: RedisServer, plugin: RedisPlugin, tmp_path: Path
) -> None:
    lock_ttl = 0.3
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=lock_ttl)
    key = TokenKey("fleet", "default")
    stale, newer = make_token("stale"), make_token("newer")

    from redis_workers import late_writer

    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    go = tmp_path / "go"
    child = context.Process(target=late_writer,
                            args=(options, key, token_fields(stale), str(go), ready, results))
    child.start()
    try:
        assert ready.get(timeout=60) is True
        os.kill(child.pid, signal.SIGSTOP)  # a VM pause, a stop-the-world GC...
        lock = plugin.lock_token("redis", key, options, lock_ttl * 5)
        assert lock is not None
        started = time.monotonic()
        with lock as held:
            assert held is True
            assert time.monotonic() - started >= lock_ttl * 0.5
            plugin.store_token("redis", key, newer, options)
        os.kill(child.pid, signal.SIGCONT)
        go.touch()
        outcome = results.get(timeout=60)
    finally:
        if child.is_alive():
            os.kill(child.pid, signal.SIGCONT)
        child.join(timeout=30)
        _stop_child(child)
    assert outcome == "StaleWriteError"
    stored = plugin.load_token("redis", key, options)
    assert stored is not None
    assert stored.access_token == newer.access_token


def test_threads_of_one_process_refresh_once_through_redis(
    sandbox_factory: Any, redis_server: RedisServer
) -> None:
    """Two sessions (two plugin hosts, as two processes would have) and several threads
    each: the Redis lock, not a thread lock, keeps it to one refresh."""
    threads = 8
    double = sandbox_factory("bearer_double", clock=SystemClock())
    double.refresh_delay = 0.05
    profile = profile_over(double, redis_store(redis_server.url))
    sessions = [brokerauth.session(profile) for _ in range(2)]
    try:
        assert sessions[0].get("/api/me").ok
        token = sessions[0].token
        sessions[0].binding.save(token.replace(expires_at=token.issued_at))
        sessions[0].tokens.forget()
        double.expire_access_tokens()
        statuses = race_sessions(sessions, threads)
    finally:
        for session in sessions:
            session.close()
    assert statuses == [200] * (threads * 2)
    assert double.refresh_calls == 1
