"""The PostgreSQL back end against what an attacker, a hostile server or a stalled one does:
URLs read two ways, passwords in messages, cleartext password requests, a backend that stops
answering, tables made by another role, a pool too small, a fork in the middle of a
migration."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from brokerauth.contract.errors import ConfigError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.secrets import Secret
from brokerauth_sql.options import SqlStoreOptions, check_postgres_transport
from brokerauth_sql.pgurl import PgUrl
from brokerauth_sql.plugin import SqlPlugin
from sql_helpers import make_token

REMOTE = "192.0.2.2"  # TEST-NET-1: never this machine, never reached (nothing connects)


@pytest.mark.parametrize("url", [
    # A second @: libpq takes the first, so the host list starts with the remote one.
    f"postgresql://app:pw@{REMOTE}:5432,x@127.0.0.1/platform",
    # An empty hostaddr= is ignored by libpq, which connects to the netloc's host.
    f"postgresql://app:pw@{REMOTE}:5432/platform?hostaddr=",
    # A name under .localhost is looked up in DNS by libpq.
    "postgresql://app:pw@evil.localhost/platform",
])
def test_urls_read_two_ways_are_judged_by_libpqs_reading(url: str) -> None:
    try:
        read = PgUrl.read(url)
    except ValueError:
        return  # refused as unreadable: fine too
    assert not read.is_local
    with pytest.raises(ValueError, match="another machine"):
        check_postgres_transport(read, encrypted=False, allow_plaintext=False)


@pytest.mark.parametrize("url", [
    f"postgresql://127.0.0.1?dbname=platform#:pw@{REMOTE}:5432/platform",  # a fragment
    "postgresql://app:q8Zr/Xk2+Pw==@db.internal:5432/platform",  # a / not percent-encoded
    "postgresql://app@db.internal:port/platform",
])
def test_ambiguous_urls_are_refused_without_quoting_them(url: str) -> None:
    with pytest.raises(ValueError, match="cannot be read as a PostgreSQL URL") as info:
        PgUrl.read(url)
    assert "q8Zr" not in str(info.value)
    assert REMOTE not in str(info.value)


def test_the_environment_is_read_as_libpq_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # PGHOSTADDR sends even a URL naming localhost elsewhere.
    monkeypatch.setenv("PGHOSTADDR", REMOTE)
    read = PgUrl.read("postgresql://app@localhost/platform")
    assert not read.is_local
    assert read.pinned()["hostaddr"] == REMOTE
    monkeypatch.delenv("PGHOSTADDR")
    monkeypatch.setenv("PGSERVICE", "remote")
    with pytest.raises(ValueError, match="names a service"):
        PgUrl.read("postgresql://app@localhost/platform")
    monkeypatch.delenv("PGSERVICE")
    with pytest.raises(ValueError, match="names a service"):
        PgUrl.read("postgresql:///platform?service=remote")
    # verify-ca checks the authority, not that the certificate names the host.
    assert not PgUrl.read(f"postgresql://app@{REMOTE}/p?sslmode=verify-ca").verifies_server
    assert PgUrl.read(f"postgresql://app@{REMOTE}/p?sslmode=verify-full").verifies_server
    assert PgUrl.read("postgresql://app@[::ffff:127.0.0.1]:5432/p").is_local
    assert PgUrl.read("postgresql:///p?host=/var/run/postgresql").is_local
    assert PgUrl.read("postgresql://app@localhost/p").pinned()["require_auth"] == "!password"


@pytest.mark.postgres_only
def test_a_password_libpq_cannot_read_never_reaches_a_message_or_a_log(
    postgres_server: Any, key: TokenKey, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "Tr0ub%4dor%zz-and-more"
    url = f"postgresql://app:{password}@127.0.0.1:{postgres_server.port}/postgres"
    monkeypatch.setenv("BROKERAUTH_TEST_BAD_URL", url)
    plugin = SqlPlugin()
    options = SqlStoreOptions(url=Secret(env="BROKERAUTH_TEST_BAD_URL"), connect_timeout=1)
    try:
        with pytest.raises((ConfigError, StoreError)) as info:
            plugin.load_token("sql", key, options)
    finally:
        plugin.close()
    everything = " ".join([str(info.value), repr(info.value),
                           *(record.getMessage() for record in caplog.records)])
    for part in (password, "Tr0ub", "4dor"):
        assert part not in everything


class _CleartextAsker:
    """A server on 127.0.0.1 that asks every client for its password in clear."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.passwords: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(8):  # bounded: a few connection attempts
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with client:
                client.settimeout(5)
                try:
                    self._answer(client)
                except (OSError, struct.error):
                    continue

    def _answer(self, client: socket.socket) -> None:
        while True:
            (length,) = struct.unpack("!i", client.recv(4))
            body = client.recv(length - 4)
            if struct.unpack("!i", body[:4])[0] in (80877103, 80877104):  # SSL, GSS request
                client.sendall(b"N")
                continue
            break
        client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        answer = client.recv(4096)
        if answer[:1] == b"p":
            self.passwords.append(answer)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def cleartext_asker() -> Iterator[_CleartextAsker]:
    server = _CleartextAsker()
    yield server
    server.close()


@pytest.mark.postgres_only
def test_a_server_asking_for_the_password_in_clear_never_gets_it(
    cleartext_asker: _CleartextAsker, key: TokenKey, monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    password = "never-sent-" + "y" * 16
    monkeypatch.setenv("BROKERAUTH_TEST_ASKER_URL",
                       f"postgresql://app:{password}@127.0.0.1:{cleartext_asker.port}/db")
    plugin = SqlPlugin()
    options = SqlStoreOptions(url=Secret(env="BROKERAUTH_TEST_ASKER_URL"), connect_timeout=1)
    try:
        with pytest.raises(StoreError, match="!password"):
            plugin.load_token("sql", key, options)
    finally:
        plugin.close()
    assert cleartext_asker.passwords == []


def _backends(raw: Any) -> list[int]:
    return [int(row[0]) for row in raw(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'brokerauth'")]


@pytest.mark.postgres_only
def test_a_backend_that_stops_answering_is_cut_off(
    plugin: SqlPlugin, options_of: Any, key: TokenKey, raw: Any
) -> None:
    options = options_of(busy_timeout=0.5, connect_timeout=0.5)
    plugin.store_token("sql", key, make_token(), options)
    stopped = _backends(raw)
    assert stopped
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            plugin.load_token("sql", key, options)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    for pid in stopped:  # a paused machine, a backend stuck in I/O
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        caller = threading.Thread(target=load)
        caller.start()
        caller.join(10)  # bounded even if the store waited for ever
        waited = time.monotonic() - started
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        caller.join(30)
    assert waited < 3, f"the load waited {waited:.1f} s for a backend that never answered"
    assert len(outcome) == 1
    assert isinstance(outcome[0], StoreError)
    info = outcome[0]
    assert "did not answer within 1 s" in info.message
    assert "connection was cut" in info.message
    # The pool drops the cut connection: the next load works.
    assert plugin.load_token("sql", key, options) is not None


@pytest.mark.postgres_only
def test_tables_made_by_another_role_are_refused(
    postgres_server: Any, postgres_url: str, key: TokenKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    password = "app-password-" + "z" * 12
    postgres_server.psql(
        f"CREATE ROLE app LOGIN PASSWORD '{password}'; CREATE ROLE mallory; "
        f'GRANT CREATE ON SCHEMA public TO app, mallory;', database)
    # Mallory, able to create tables where the store looks for them, makes them first.
    postgres_server.psql(
        "SET ROLE mallory; CREATE TABLE brokerauth_tokens (profile TEXT, identity TEXT, "
        "data BYTEA, generation BIGINT, fence BIGINT, updated_at DOUBLE PRECISION, "
        "PRIMARY KEY (profile, identity)); GRANT ALL ON brokerauth_tokens TO app;", database)
    try:
        monkeypatch.setenv("BROKERAUTH_TEST_APP_URL",
                           f"postgresql://app:{password}@127.0.0.1:{postgres_server.port}/"
                           f"{database}")
        refused = SqlPlugin()
        options = SqlStoreOptions(url=Secret(env="BROKERAUTH_TEST_APP_URL"))
        with pytest.raises(StoreError, match="owned by 'mallory'"):
            refused.store_token("sql", key, make_token(), options)
        refused.close()
        assert postgres_server.psql("SELECT count(*) FROM brokerauth_tokens", database) == "0\n"
    finally:
        postgres_server.psql("DROP OWNED BY app, mallory CASCADE; DROP ROLE app; "
                             "DROP ROLE mallory;", database)


@pytest.mark.postgres_only
def test_one_connection_is_enough_for_a_refresh(
    plugin: SqlPlugin, options_of: Any, key: TokenKey
) -> None:
    options = options_of(pool_size=1, connect_timeout=1)
    plugin.store_token("sql", key, make_token("before"), options)
    refreshed = make_token("after")
    lock = plugin.lock_token("sql", key, options, 2.0)
    assert lock is not None
    with lock as held:  # the pool's only connection holds the lock...
        assert held
        # ...and the holder's re-read and store go through it.
        assert plugin.load_token("sql", key, options) is not None
        plugin.store_token("sql", key, refreshed, options)
    assert plugin.load_token("sql", key, options) == refreshed
    # Several users refreshing at once on a small pool all get through.
    failures: list[str] = []

    def refresh(user: str) -> None:
        other = TokenKey(key.profile, user)
        try:
            with plugin.lock_token("sql", other, options_of(pool_size=2), 5.0) as got:  # type: ignore[union-attr]
                assert got
                time.sleep(0.05)  # the broker's answer takes a moment
                plugin.store_token("sql", other, make_token(user), options_of(pool_size=2))
        except Exception as exc:
            failures.append(f"{user}: {exc}")

    threads = [threading.Thread(target=refresh, args=(f"user-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


@pytest.mark.postgres_only
def test_a_fork_during_a_migration_leaves_the_child_working(
    plugin: SqlPlugin, options: SqlStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token(), options)
    store: Any = plugin.store_for(options)
    store._migrated = False  # as on a store's first use
    with store._migrating:  # another thread is migrating when the process forks
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if SqlPlugin().load_token("sql", key, options) else 2
                code = 0 if plugin.load_token("sql", key, options) else 3
            finally:
                os._exit(code)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the child stayed blocked on a lock the parent held at the fork")
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.postgres_only
def test_a_busy_pool_stays_the_limit_pool_size_promises(
    plugin: SqlPlugin, options_of: Any, key: TokenKey, raw: Any
) -> None:
    options = options_of(pool_size=1, connect_timeout=0.5)
    plugin.store_token("sql", key, make_token(), options)
    other = TokenKey(key.profile, "other")
    lock = plugin.lock_token("sql", key, options, 2.0)
    assert lock is not None
    outcome: list[BaseException | None] = []

    def load_other() -> None:  # another thread: the lock's connection is not its own
        try:
            plugin.load_token("sql", other, options)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with lock as held:
        assert held
        thread = threading.Thread(target=load_other)
        thread.start()
        thread.join(10)
        sessions = int(raw("SELECT count(*) FROM pg_stat_activity "
                           "WHERE application_name = 'brokerauth'")[0][0])
    assert sessions == 1  # no connection beyond the pool's one
    assert len(outcome) == 1
    assert isinstance(outcome[0], StoreError)
    assert "no free connection" in outcome[0].message or "raise the store's pool_size" in (
        outcome[0].hint or "")


@pytest.mark.postgres_only
def test_a_pool_waiting_out_its_reconnection_backoff_does_not_fail_a_load(
    plugin: SqlPlugin, options_of: Any, key: TokenKey, postgres_server: Any
) -> None:
    options = options_of(pool_size=1, connect_timeout=0.5)
    plugin.store_token("sql", key, make_token(), options)
    pool = plugin.store_for(options)._pool_now()
    postgres_server.stop()
    try:
        with pytest.raises(StoreError):
            plugin.load_token("sql", key, options)  # finds the pool's connection dead
        # psycopg_pool retries after 1 s, then 2 s, 4 s...: after its third failure the next
        # attempt is seconds away, and the pool still counts that connection as its own.
        give_up = time.monotonic() + 20
        while (pool.get_stats().get("connections_errors", 0) < 3
               and time.monotonic() < give_up):
            time.sleep(0.05)
        assert pool.get_stats().get("connections_errors", 0) >= 3
    finally:
        postgres_server.start()
    started = time.monotonic()
    assert plugin.load_token("sql", key, options) is not None
    assert time.monotonic() - started < 3  # the pool's timeout, then a connection made now
