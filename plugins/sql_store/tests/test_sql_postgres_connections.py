"""The PostgreSQL store's connections between statements: it keeps the ones it used, idle, for
the next statement (the fast path of every load), and none of that may cost a guarantee: a
kept connection the server ended is replaced and the read gives the row as it is now; a
thread waiting for the pool is never kept waiting by an idle kept connection; kept
connections go back through the pool in time; closing the store closes them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from brokerauth_sql.watchdog import Watchdog
from sql_helpers import Raw, make_token

pytestmark = pytest.mark.postgres_only

_SESSIONS = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'brokerauth' "
             "AND datname = current_database() ORDER BY pid")


def _backends(raw: Raw) -> list[int]:
    return [int(row[0]) for row in raw(_SESSIONS)]


def _until(condition: Any, what: str, seconds: float = 10.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            pytest.fail(f"not within {seconds:g} s: {what}")
        time.sleep(0.01)


def _terminate_all(raw: Raw) -> list[int]:
    """End every session of the store on the server (an administrator, a failover)."""
    ended = _backends(raw)
    raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'brokerauth' AND datname = current_database()")
    _until(lambda: not set(_backends(raw)) & set(ended), "the sessions ended")
    return ended


def test_a_kept_connection_ended_between_two_reads_gives_the_row_as_it_is_now(
    backend: str, plugin: SqlPlugin, options_of: Any, key: TokenKey, raw: Raw,
    fernet_key: str,
) -> None:
    from brokerauth.toolkit.secrets import Secret

    options: SqlStoreOptions = options_of(
        encryption_key=Secret(env="BROKERAUTH_TEST_SQL_KEY"), pool_size=2)
    first, second = make_token("first"), make_token("second")
    plugin.store_token("sql", key, first, options)
    assert plugin.load_token("sql", key, options) == first  # its connection is kept now
    writer = SqlPlugin()  # another host replaces the token...
    writer.store_token("sql", key, second, options)
    writer.close()
    ended = _terminate_all(raw)  # ...and the server ends the reader's session
    assert ended
    assert plugin.load_token("sql", key, options) == second
    now = _backends(raw)
    assert now
    assert not set(now) & set(ended)  # read over a new session, not an ended one
    # Every connection the store held, ended at once (a restart): still one read.
    threads = [threading.Thread(target=plugin.load_token, args=("sql", key, options))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    _terminate_all(raw)
    assert plugin.load_token("sql", key, options) == second
    kept = [connection for connection, _since in plugin.store_for(options)._kept]  # type: ignore[attr-defined]
    assert kept
    plugin.close()
    assert all(connection.closed for connection in kept)  # closed, not left to the collector
    _until(lambda: not _backends(raw), "closing the store ended its sessions")


def test_a_thread_waiting_for_the_pool_is_handed_a_kept_connection(
    backend: str, plugin: SqlPlugin, options_of: Any, key: TokenKey, raw: Raw
) -> None:
    # One connection for two busy threads: each gives it back while the other waits for the
    # pool, so it must go to the pool, not lie kept until the waiter's connect_timeout.
    options: SqlStoreOptions = options_of(pool_size=1, connect_timeout=2)
    token = make_token()
    plugin.store_token("sql", key, token, options)
    failures: list[str] = []
    rounds = 150

    def reader() -> None:
        try:
            for _ in range(rounds):
                if plugin.load_token("sql", key, options) != token:
                    failures.append("a wrong token")
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    started = time.monotonic()
    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    took = time.monotonic() - started
    assert failures == []
    assert took < 10, f"{2 * rounds} reads took {took:.1f} s: a reader waited for the pool"
    assert len(_backends(raw)) == 1  # pool_size stays the limit


def test_kept_connections_go_back_through_the_pool_in_time(
    backend: str, plugin: SqlPlugin, options: SqlStoreOptions, key: TokenKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import brokerauth_sql.postgres as postgres

    now = [1000.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            return now[0]

    monkeypatch.setattr(postgres, "time", Clock)
    plugin.store_token("sql", key, make_token(), options)
    store: Any = plugin.store_for(options)
    pool = store._pool_now()
    gate = threading.Barrier(4, timeout=20)

    def burst() -> None:
        lock = plugin.lock_token("sql", TokenKey(key.profile, threading.current_thread().name),
                                 options, 5.0)
        assert lock is not None
        with lock:  # four connections out at once
            gate.wait()

    threads = [threading.Thread(target=burst, name=f"user-{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(store._kept) >= 4  # kept after the burst, unused
    now[0] += store.keep_for / 2
    assert plugin.load_token("sql", key, options) is not None
    assert len(store._kept) >= 4  # not yet
    now[0] += store.keep_for
    assert plugin.load_token("sql", key, options) is not None
    # The unused ones went back to the pool (its idle shrinking and max_lifetime apply), and
    # the one just used had been out longer than keep_for: back as well.
    assert store._kept == []
    assert store._taken == {}
    stats = pool.get_stats()
    assert stats["pool_available"] == stats["pool_size"] >= 4  # none out of the pool


def test_a_statement_that_ended_in_time_never_has_its_connection_cut() -> None:
    import socket
    from types import SimpleNamespace

    watchdog = Watchdog()
    ours, peer = socket.socketpair()
    with ours, peer:
        connection = SimpleNamespace(pgconn=SimpleNamespace(socket=ours.fileno()))
        entry = watchdog.arm(connection, 0.05)
        watchdog.disarm(entry)  # the statement ended before its deadline
        # The thread wakes at that deadline and drops the ended entry without cutting.
        _until(lambda: not watchdog._heap and entry.at < time.monotonic(),
               "the watchdog passed the deadline")
        assert not entry.fired
        peer.sendall(b"x")
        ours.settimeout(5)
        assert ours.recv(1) == b"x"
