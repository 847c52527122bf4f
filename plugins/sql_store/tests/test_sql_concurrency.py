"""Many threads and processes on one database (a SQLite file, a PostgreSQL server): atomic
rows, one refresh, a lock that dies with its holder, a fence that outlives a logout."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.bearer.helpers import (
    check_one_refresh,
    expired_everywhere,
    profile_over,
    race_sessions,
)
from brokerauth_sandbox.fleet import run_fleet
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from brokerauth_sql.rows import StaleWriteError
from sql_helpers import Raw, make_token, token_fields


def _stop_child(process: Any) -> None:
    if process.is_alive():
        process.kill()
    process.join(timeout=10)


def test_readers_see_a_whole_token_while_16_threads_write(
    options: SqlStoreOptions, key: TokenKey
) -> None:
    written = [make_token(f"w{n}") for n in range(64)]
    SqlPlugin().store_token("sql", key, written[0], options)
    allowed = {t.access_token: t for t in written}
    problems: list[str] = []
    done = threading.Event()
    writers_started = threading.Barrier(16 + 4)

    def write(offset: int) -> None:
        plugin = SqlPlugin()
        writers_started.wait()
        for token in written[offset::16]:
            plugin.store_token("sql", key, token, options)

    def read() -> None:
        plugin = SqlPlugin()
        writers_started.wait()
        while not done.is_set():
            try:
                seen = plugin.load_token("sql", key, options)
            except Exception as exc:  # a torn row would not even parse
                problems.append(f"{type(exc).__name__}: {exc}")
                continue
            if seen is None or allowed.get(seen.access_token) != seen:
                problems.append(repr(seen))

    writers = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    assert problems == []
    assert SqlPlugin().load_token("sql", key, options) in written


def test_a_process_killed_while_writing_leaves_the_old_or_a_new_token(
    options: SqlStoreOptions, key: TokenKey
) -> None:
    from sql_workers import write_many

    first = make_token("first")
    plugin = SqlPlugin()
    plugin.store_token("sql", key, first, options)
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    child = context.Process(target=write_many,
                            args=(options, key, token_fields(first), 100_000, ready))
    child.start()
    try:
        assert ready.get(timeout=60) is True
        # Killed in the middle of its writes, wherever that is.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stored = plugin.load_token("sql", key, options)
            if stored is not None and stored.access_token != first.access_token:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        _stop_child(child)
    stored = SqlPlugin().load_token("sql", key, options)
    assert stored is not None
    assert stored.access_token.startswith(first.access_token + "-")
    assert stored.refresh_token == first.refresh_token
    # And the database takes the next write.
    plugin.store_token("sql", key, first, options)
    assert plugin.load_token("sql", key, options) == first


def test_8_processes_x_4_threads_share_one_refresh(
    sandbox_factory: Any, store_of: Any, fernet_key: str
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    double.refresh_delay = 0.1  # widen the window in which everyone wants to refresh
    store = store_of(encryption_key={"env": "BROKERAUTH_TEST_SQL_KEY"})
    profile = profile_over(double, store, "platform")
    # Expired for everyone: in the database and on the server.
    expired = expired_everywhere(profile, double)

    statuses = run_fleet(profile, path="/api/me", processes=8, threads=4)
    assert statuses == ["200"] * 32
    check_one_refresh(profile, double, expired)


def test_a_holder_killed_mid_lock_frees_it_within_a_second(
    sandbox_factory: Any, store_of: Any, options: SqlStoreOptions
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    profile = Profile.from_mapping("platform", {
        "broker": "bearer_double", **double.profile_settings(), "store": store_of()})
    session = brokerauth.session(profile)
    try:
        assert session.get("/api/me").ok
        token = session.token
        session.binding.save(token.replace(expires_at=token.issued_at))
        session.tokens.forget()
        double.expire_access_tokens()

        from sql_workers import hold_lock

        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        child = context.Process(target=hold_lock,
                                args=(options, TokenKey("platform", "default"), ready))
        child.start()
        try:
            assert ready.get(timeout=60) is True
            with session.binding.lock(0) as held:
                assert held is False  # a live holder keeps it
            os.kill(child.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            response = session.get("/api/me")
            waited = time.monotonic() - killed_at
        finally:
            _stop_child(child)
        assert response.status == 200
        assert double.refresh_calls == 1
        assert waited < 1.0, f"the lock came free only after {waited:.2f} s"
    finally:
        session.close()


def test_a_holder_cannot_bring_back_a_token_logged_out_while_it_held_the_lock(
    plugin: SqlPlugin, options: SqlStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token("before"), options)
    refreshed = make_token("refreshed")
    holding, logged_out = threading.Event(), threading.Event()
    outcome: list[str] = []

    def paused_holder() -> None:
        lock = plugin.lock_token("sql", key, options, 5.0)
        assert lock is not None
        with lock as held:
            assert held
            holding.set()
            assert logged_out.wait(30)  # paused here, as a stopped process would be
            try:
                plugin.store_token("sql", key, refreshed, options)
                outcome.append("stored")
            except StaleWriteError:
                outcome.append("refused")

    holder = threading.Thread(target=paused_holder)
    holder.start()
    try:
        assert holding.wait(30)
        # Another process logs the user out meanwhile (it needs no lock to).
        assert SqlPlugin().delete_token("sql", key, options) is True
    finally:
        logged_out.set()
        holder.join()
    assert outcome == ["refused"]
    assert plugin.load_token("sql", key, options) is None
    # A holder whose fence is current stores as usual.
    lock = plugin.lock_token("sql", key, options, 5.0)
    assert lock is not None
    with lock as held:
        assert held
        plugin.store_token("sql", key, refreshed, options)
    assert plugin.load_token("sql", key, options) == refreshed


def test_the_lock_is_per_identity_and_times_out(
    plugin: SqlPlugin, options: SqlStoreOptions
) -> None:
    alice, bob = TokenKey("platform", "alice"), TokenKey("platform", "bob")
    outer = plugin.lock_token("sql", alice, options, 1.0)
    assert outer is not None
    with outer as held:
        assert held
        other = SqlPlugin().lock_token("sql", alice, options, 0.1)
        assert other is not None
        started = time.monotonic()
        with other as second:
            assert second is False
        assert time.monotonic() - started < 1.0
        # Another user's refresh does not wait for this one.
        bobs = SqlPlugin().lock_token("sql", bob, options, 0)
        assert bobs is not None
        with bobs as free:
            assert free is True


@pytest.mark.parametrize("threads", [16])
def test_threads_of_two_sessions_refresh_once(
    sandbox_factory: Any, store_of: Any, threads: int
) -> None:
    double = sandbox_factory("bearer_double", clock=SystemClock())
    double.refresh_delay = 0.05
    profile = profile_over(double, store_of(), "platform")
    sessions = [brokerauth.session(profile) for _ in range(2)]
    try:
        assert sessions[0].get("/api/me").ok
        token: Token = sessions[0].token
        sessions[0].binding.save(token.replace(expires_at=token.issued_at))
        sessions[0].tokens.forget()
        double.expire_access_tokens()
        statuses = race_sessions(sessions, threads)
    finally:
        for session in sessions:
            session.close()
    assert statuses == [200] * (threads * 2)
    assert double.refresh_calls == 1


def test_a_forked_child_uses_connections_of_its_own(
    plugin: SqlPlugin, options: SqlStoreOptions, key: TokenKey, backend: str, raw: Raw
) -> None:
    # A web server that loads the app, then forks its workers (gunicorn --preload): the
    # child must not talk over the parent's connections, nor close them when it stops.
    first, second = make_token("first"), make_token("second")
    plugin.store_token("sql", key, first, options)
    assert plugin.load_token("sql", key, options) == first

    def sessions() -> int:
        if backend == "sqlite":
            return 0
        return int(raw("SELECT count(*) FROM pg_stat_activity "
                       "WHERE application_name = 'brokerauth'")[0][0])

    before = sessions()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 3
        try:
            code = 0 if plugin.load_token("sql", key, options) == first else 2
            if backend != "sqlite" and sessions() <= before:
                code = 4  # it spoke over an inherited connection instead of its own
            plugin.store_token("sql", key, second, options)
            plugin.close()  # as a worker does when it stops
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's sessions on the server are all still there (a child closing them would
    # have ended them: the socket is shared).
    assert sessions() == before
    # The parent's connections still work, and see what the child wrote.
    for _ in range(3):
        assert plugin.load_token("sql", key, options) == second
    plugin.store_token("sql", key, first, options)
    assert SqlPlugin().load_token("sql", key, options) == first
