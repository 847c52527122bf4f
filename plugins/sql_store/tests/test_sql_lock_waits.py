"""A wait for another process's refresh lock in the SQL store, on both back ends, is what it is
on the file store: told once when it goes on for seconds (a login or a stuck process
elsewhere, not a refresh), and ended as soon as the holder has stored the token the waiter
needs, without queueing for the lock the holder still holds."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.refresh import StoppableLock
from brokerauth_sandbox.bearer.helpers import Told, while_locked
from brokerauth_sql.plugin import SqlPlugin


def test_the_refresh_lock_s_wait_ends_as_soon_as_its_check_says_so(
    options: Any, key: Any
) -> None:
    plugin = SqlPlugin()
    holding = plugin.lock_token("sql", key, options, 5.0)
    waiting = SqlPlugin().lock_token("sql", key, options, 20.0)
    assert holding is not None
    assert isinstance(waiting, StoppableLock)
    calls: list[float] = []
    started = time.monotonic()

    def over() -> bool:
        calls.append(time.monotonic() - started)
        return len(calls) == 3

    waiting.stop_when(over)
    with holding as held:
        assert held
        with waiting as second:
            assert second is False
    assert len(calls) == 3
    assert calls[-1] < 5.0, calls  # long before its 20 s: the check ended it


@pytest.mark.parametrize("held_for", [0.0, 3.0], ids=["a moment", "long"])
def test_a_long_wait_for_the_refresh_lock_is_told_once(
    double: Any, session_factory: Any, manual_clock: Any, store_of: Any, held_for: float,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from brokerauth_sql import postgres

    monkeypatch.setattr(postgres, "_WAIT_SLICE", 0.1)  # checks between slices come sooner
    store = store_of()
    holder = session_factory(double, name="desk", store=store)
    told = Told()
    waiter = session_factory(double, name="desk", store=store, interaction=told)
    assert waiter.get("/api/me").status == 200
    manual_clock.advance(double.token_lifetime + 1)  # expired: the waiter needs the lock

    def wait_of(seconds: float) -> None:
        manual_clock.advance(seconds)  # the wait's length, as the waiter's clock reads it
        time.sleep(0.5)  # ...and its checks (every 0.25 s, or per slice) see it first

    # Refreshed once the lock was free.
    assert while_locked(holder, lambda: waiter.get("/api/me").status,
                        during=lambda: wait_of(held_for)) == 200
    assert double.refresh_calls == 1
    if not held_for:
        assert told.said == []
        return
    told.check_lock_notice("desk/default", 27)  # lock_timeout 30 s, 3 s waited


def test_a_token_stored_by_the_lock_holder_is_taken_without_waiting_for_its_release(
    double: Any, session_factory: Any, manual_clock: Any, store_of: Any
) -> None:
    """Another process refreshed and stored the token, and goes on holding the lock (its
    notices, a slow server): a process waiting for that refresh takes the token as soon as it
    is stored."""
    store = store_of()
    holder = session_factory(double, name="desk", store=store)
    waiter = session_factory(double, name="desk", store=store)
    assert waiter.get("/api/me").status == 200
    manual_clock.advance(double.token_lifetime + 1)
    fresh = session_factory(double, name="elsewhere").tokens.current()  # a valid token
    assert fresh is not None
    assert while_locked(holder, waiter.tokens.current, during=lambda: holder.binding.save(fresh),
                        until_served=True) == fresh
    assert double.refresh_calls == 0  # nobody refreshed: the holder's token served


@pytest.mark.postgres_only
def test_a_waiter_with_no_connection_to_spare_is_still_served_at_the_release(
    double: Any, session_factory: Any, manual_clock: Any, store_of: Any, options_of: Any
) -> None:
    """With every connection of the pool taken by the wait itself (``pool_size = 1``), a
    check between slices reading on another connection would wait ``connect_timeout`` for
    one; it reads on the waiting one, and the waiter gets the lock as soon as the holder
    (another process, killed here) lets go."""
    from sql_workers import hold_lock

    waiter = session_factory(double, name="desk", store=store_of(pool_size=1))
    assert waiter.get("/api/me").status == 200
    manual_clock.advance(double.token_lifetime + 1)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    child = context.Process(target=hold_lock,
                            args=(options_of(pool_size=1), TokenKey("desk", "default"), ready))
    child.start()
    try:
        assert ready.get(timeout=60) is True
        killed_at: list[float] = []

        def kill_soon() -> None:
            time.sleep(1.0)  # the waiter has checked between slices by now, or tried to
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_soon)
        killer.start()
        assert waiter.get("/api/me").status == 200
        served_at = time.monotonic()
        killer.join(10)
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=10)
    assert double.refresh_calls == 1
    waited = served_at - killed_at[0]
    assert waited < 2.0, f"served {waited:.2f} s after the holder died"


@pytest.mark.postgres_only
def test_a_wait_that_times_out_as_the_holder_lets_go_never_leaves_the_lock_held(
    options: Any, key: Any, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release at the instant a slice's ``lock_timeout`` fires grants the lock to the waiter
    and still raises the timeout.  The waiter must know it holds the lock: taken for not held,
    it would go back to the pool still held, and every other process would wait for it in
    vain.  Slices of 10 ms and releases around their ends make that instant common (about
    one wait in a hundred, on a PostgreSQL server of this machine)."""
    import random

    import psycopg
    from brokerauth_sql import postgres
    from brokerauth_sql.postgres import advisory_key

    monkeypatch.setattr(postgres, "_WAIT_SLICE", 0.01)
    number = advisory_key("refresh", key)
    plugin = SqlPlugin()
    outcomes: list[bool] = []
    with psycopg.connect(postgres_url, autocommit=True) as holder, \
            psycopg.connect(postgres_url, autocommit=True) as spy:
        for _ in range(400):
            holder.execute("SELECT pg_advisory_lock(%s)", (number,))
            release = threading.Timer(random.uniform(0.007, 0.013), holder.execute,
                                      ("SELECT pg_advisory_unlock(%s)", (number,)))
            lock = plugin.lock_token("sql", key, options, 0.3)
            assert lock is not None
            lock.stop_when(lambda: False)
            release.start()
            with lock as held:
                outcomes.append(held)
            release.join(5)
            # Nobody holds it now: not the holder, which let go, nor a pooled connection.
            left = spy.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                               "AND granted AND objsubid = 1").fetchall()
            assert left == [], f"after {len(outcomes)} waits the lock is still held: {left}"
    plugin.close()
    assert all(outcomes)  # every wait ended with the lock, once the holder let go
