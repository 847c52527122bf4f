"""Sessions on a profile with ``store = { name = "keyring" }`` over real HTTP on loopback (the
bearer double) and a real Secret Service: the token kept across sessions, one refresh for
many processes, a lock that dies with its holder, a session that outlives a locked keyring."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.profiles import Profile
from brokerauth_keyring.options import KeyringStoreOptions
from brokerauth_keyring.plugin import KeyringPlugin
from brokerauth_sandbox.bearer.helpers import (
    check_one_refresh,
    expired_everywhere,
    profile_over,
    while_locked,
)
from brokerauth_sandbox.fleet import run_fleet
from keyring_helpers import keyring_store

# The bearer double these sessions run over is the test bench's (see conftest.py).


def _profile(double: Any, service_name: str, name: str = "platform") -> Profile:
    return profile_over(double, keyring_store(service=service_name), name)


def hold_lock(service: str, key: TokenKey, ready: Any) -> None:
    """Hold ``key``'s refresh lock until killed (a spawned process's target)."""
    lock = KeyringPlugin().lock_token("keyring", key, KeyringStoreOptions(service=service), 5.0)
    assert lock is not None
    with lock as held:
        ready.put(held)
        time.sleep(120)


def test_a_profile_keeps_its_token_in_the_keyring(
    sandbox_factory: Any, keyring_env: Any, service_name: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    profile = _profile(double, service_name)
    with brokerauth.session(profile) as first:
        assert first.get("/api/me").ok
        token = first.token
    stored = KeyringPlugin().load_token("keyring", TokenKey("platform", "default"),
                                        KeyringStoreOptions(service=service_name))
    assert stored == token
    with brokerauth.session(profile) as second:
        assert second.get("/api/me").ok
        assert second.token == token, "the second session reused the stored token"
    assert double.refresh_calls == 0


def test_4_processes_x_4_threads_share_one_refresh(
    sandbox_factory: Any, keyring_env: Any, service_name: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    double.refresh_delay = 0.1  # widen the window in which everyone wants to refresh
    profile = _profile(double, service_name, "fleet")
    # Expired for everyone: in the keyring and on the server.
    expired = expired_everywhere(profile, double)

    # The children inherit the environment: the bus, the XDG folders, BROKERAUTH_HOME.
    statuses = run_fleet(profile, path="/api/me", processes=4, threads=4)
    assert statuses == ["200"] * 16
    check_one_refresh(profile, double, expired)


def test_a_holder_killed_mid_lock_frees_it_within_a_second(
    sandbox_factory: Any, keyring_env: Any, service_name: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    session = brokerauth.session(_profile(double, service_name))
    try:
        assert session.get("/api/me").ok
        token = session.token
        session.binding.save(token.replace(expires_at=token.issued_at))
        session.tokens.forget()
        double.expire_access_tokens()

        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        child = context.Process(target=hold_lock,
                                args=(service_name, TokenKey("platform", "default"), ready))
        child.start()
        try:
            assert ready.get(timeout=60) is True
            with session.binding.lock(0) as held:
                assert held is False  # a live holder keeps it
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            response = session.get("/api/me")
            waited = time.monotonic() - killed_at
        finally:
            if child.is_alive():
                child.kill()
            child.join(timeout=10)
        assert response.status == 200
        assert double.refresh_calls == 1
        assert waited < 1.0, f"the lock came free only after {waited:.2f} s"
    finally:
        session.close()


def test_a_waiter_takes_the_token_the_lock_holder_stored_without_waiting_for_its_release(
    sandbox_factory: Any, keyring_env: Any, service_name: str
) -> None:
    """Another process refreshed and stored the token, and still holds the lock (its
    notices, a slow keyring): a session waiting for that refresh takes the stored token as
    soon as it is there, and is woken by the release otherwise."""
    double = sandbox_factory("bearer_double", clock=SystemClock())
    profile = _profile(double, service_name)
    waiter, holder = brokerauth.session(profile), brokerauth.session(profile)
    try:
        assert waiter.get("/api/me").ok
        old = waiter.token
        waiter.binding.save(old.replace(expires_at=old.issued_at))
        waiter.tokens.forget()
        fresh = old.replace(access_token="stored-by-the-holder")
        assert while_locked(holder, waiter.tokens.current,
                            during=lambda: holder.binding.save(fresh), until_served=True) == fresh
        assert double.refresh_calls == 0
    finally:
        waiter.close()
        holder.close()


def test_a_session_keeps_its_valid_token_while_the_keyring_is_locked(
    sandbox_factory: Any, keyring_env: Any, service_name: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    profile = _profile(double, service_name)
    with brokerauth.session(profile) as session:
        assert session.get("/api/me").ok
        keyring_env.lock()
        assert session.get("/api/me").ok, "the token it holds is still good"
        keyring_env.stop_keyring()
        assert session.get("/api/me").ok, "and needs no keyring until it expires"
    keyring_env.start_keyring()
    keyring_env.lock()
    with brokerauth.session(profile) as fresh, pytest.raises(StoreError, match="locked"):
        fresh.get("/api/me")
