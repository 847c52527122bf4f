"""A store that cannot save: the session keeps the valid token it holds, as with Redis; the
database named in every error, never its password; back to work when the database is."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from brokerauth_sql.postgres import advisory_key


def _early_refresh_cannot_be_stored(
    session: Any, double: Any, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture,
    expected: str, where: str,
) -> Any:
    """Into the early-refresh window while the database cannot be written: every request
    still succeeds on the token held, one caller tries to refresh, cannot, and says so."""
    token = session.token
    refreshes = double.refresh_calls
    manual_clock.advance(double.token_lifetime - 200)
    for _ in range(5):
        assert session.get("/api/me").status == 200
    messages = [r.getMessage() for r in caplog.records]
    assert any(expected in m and where in m for m in messages), messages
    assert session.token == token
    assert double.refresh_calls == refreshes, "no refresh without the lock's fence"
    return token


def _stored_again(session: Any, manual_clock: ManualClock, token: Any) -> None:
    manual_clock.advance(150)
    assert session.get("/api/me").ok
    assert session.binding.load() == session.token
    assert session.token != token


@pytest.mark.sqlite_only
def test_a_refresh_that_cannot_be_stored_keeps_the_session_going(
    double: Any, session_factory: Any, store_of: Any, database: Path, where: str,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_factory(double, name="platform", store=store_of(busy_timeout=0.2))
    assert session.get("/api/me").ok
    # Another writer holds the database past busy_timeout: nothing can be stored.
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        token = _early_refresh_cannot_be_stored(session, double, manual_clock, caplog,
                                                "stayed locked", where)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _stored_again(session, manual_clock, token)


@pytest.mark.postgres_only
def test_a_writer_holding_the_row_too_long_keeps_the_session_going(
    double: Any, session_factory: Any, store_of: Any, postgres_url: str, where: str,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_factory(double, name="platform", store=store_of(busy_timeout=0.2))
    assert session.get("/api/me").ok
    # Another session holds the row's write lock past busy_timeout (a long transaction).
    with psycopg.connect(postgres_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)",
                       (advisory_key("row", TokenKey("platform", "default")),))
        token = _early_refresh_cannot_be_stored(session, double, manual_clock, caplog,
                                                "another writer held its row", where)
        holder.rollback()
    _stored_again(session, manual_clock, token)


@pytest.mark.postgres_only
def test_a_server_that_is_down_keeps_the_session_going_and_comes_back(
    double: Any, session_factory: Any, store_of: Any, postgres_server: Any, where: str,
    manual_clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_factory(double, name="platform",
                              store=store_of(connect_timeout=0.5, pool_size=2))
    assert session.get("/api/me").ok
    postgres_server.stop()
    try:
        token = _early_refresh_cannot_be_stored(
            session, double, manual_clock, caplog, "no connection to the PostgreSQL server",
            where)
    finally:
        postgres_server.start()
    # The pool's connections died with the server: each is found out and replaced.
    _stored_again(session, manual_clock, token)


@pytest.mark.postgres_only
def test_errors_name_the_server_never_the_password(
    postgres_server: Any, key: TokenKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-password-" + "x" * 16
    url = postgres_server.url("postgres").replace(postgres_server.password, wrong)
    monkeypatch.setenv("BROKERAUTH_TEST_WRONG_URL", url)
    options = SqlStoreOptions(url=Secret(env="BROKERAUTH_TEST_WRONG_URL"), connect_timeout=1)
    plugin = SqlPlugin()
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            plugin.load_token("sql", key, options)
        assert time.monotonic() - started < 5
    finally:
        plugin.close()
    text = f"{info.value.message} {info.value.hint}"
    assert "password authentication failed" in text
    assert f"127.0.0.1:{postgres_server.port}/postgres" in text
    assert wrong not in text


@pytest.mark.postgres_only
def test_a_lock_wait_is_bounded_and_the_lock_dies_with_its_session(
    plugin: SqlPlugin, options: SqlStoreOptions, key: TokenKey, postgres_url: str
) -> None:
    # Another host's session holds the refresh lock...
    holder = psycopg.connect(postgres_url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (advisory_key("refresh", key),))
    lock = plugin.lock_token("sql", key, options, 0.3)
    assert lock is not None
    started = time.monotonic()
    with lock as held:
        assert held is False
    assert 0.25 < time.monotonic() - started < 3
    # ...and a waiter gets it the moment that session ends, without polling.
    results: list[bool] = []
    waiting = plugin.lock_token("sql", key, options, 10.0)
    assert waiting is not None

    def wait() -> None:
        with waiting as got:
            results.append(got)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)  # the waiter is blocked in pg_advisory_lock by now (bounded: 10 s)
    holder.close()
    ended = time.monotonic()
    thread.join(10)
    assert results == [True]
    assert time.monotonic() - ended < 1.0
