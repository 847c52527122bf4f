"""The ``sql`` store on PostgreSQL: one database shared by every host of a fleet.

Connections come from a ``psycopg_pool`` pool per store and process (``pool_size`` at most,
one opened at first use, autocommit; a pool inherited through ``fork`` is left alone, since
closing its connections would end the parent's sessions).  Reads are one statement each; a
read that meets a connection the server closed (a restart, ``idle_session_timeout``,
``pg_terminate_backend``) is tried again on another, and the dead one goes back to the pool,
which replaces it.

Between statements the store keeps the connections it took from the pool, idle, on a stack of
its own, and the next statement takes the one used last (:meth:`PostgresStore._checkout`):
psycopg_pool hands its idle connections out in turn, so a steady stream of reads would meet
a different server backend each time, each with colder caches, on the server and here (that
turn-taking, not the pool's bookkeeping, was most of what a pooled read cost over a raw
``SELECT`` on one held connection).  Only a connection in a clean state is kept (idle, no
transaction, not closed; anything else goes back to the pool, which rolls back, discards or
replaces it); a thread waiting for the pool makes every kept connection go back to it, so
``pool_size`` stays the limit and nobody waits while one lies idle here; and a connection goes
back through the pool after :attr:`PostgresStore.keep_for` seconds out of it or unused, so
the pool's ``max_lifetime`` and idle shrinking still apply (after a burst of threads, the
extra connections stay open until the store is next used, not ``max_idle``).

**Writes** are one transaction each, which first takes a transaction-level advisory lock on
the row's key (``pg_advisory_xact_lock``), so the read-check-write of a store, a logout or a
token-request count is exclusive for its row, as SQLite's ``BEGIN IMMEDIATE`` is for its
file, and a row that does not exist yet is covered too (``SELECT ... FOR UPDATE`` locks only
rows that exist).  ``busy_timeout`` bounds that wait (``lock_timeout``) and any one statement
(``statement_timeout``).

**The refresh lock** is a session-level advisory lock (``pg_advisory_lock``) on a second key
of the row, held on a connection taken out of the pool for as long as the refresh lasts.
Chosen over row locks because a row lock lives in a transaction, and a transaction left open
across the broker's network call would hold back vacuum and, with ``SKIP LOCKED``, make
waiters poll; an advisory lock is held by the session itself, so it ends with the session:
a holder killed (``kill -9`` included) closes its socket and the server frees the lock at
once, and a waiter blocked in ``pg_advisory_lock`` gets it without polling, the wait bounded
by ``lock_timeout``.  A waiter that can end its wait early (the core's check of whether the
holder stored the token it waits for, and its notice of a long wait) waits in half-second
slices with the check between them, made on its own waiting connection.  A wait that times
out just as the holder lets go may still have been granted the lock: the server is asked,
so that a lock is never left held by a connection back in the pool.  The fence of
:mod:`brokerauth_sql.lock` stays, in the row: a holder whose session was lost without it
knowing (a network cut the server noticed first) cannot overwrite what a newer holder or a
logout wrote.

Keys of advisory locks are 64 bits of SHA-256 over the purpose and the pair, so each user's
refresh is independent of the others', and a collision (about one in 2^64 per pair) would
only make two users queue for each other, never mix their tokens.

Every psycopg failure becomes a :class:`~brokerauth.contract.errors.StoreError` naming where
the server is (hosts, port, database: never the user, the password or the query) and what to
do; the pool's "no connection within connect_timeout" names the last reason a connection
failed.  libpq has no read timeout: a server that stops answering mid-statement is cut off
by TCP keepalives and ``tcp_user_timeout``, and one that answers slowly by the server-side
``statement_timeout``.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from types import TracebackType
from typing import Any, Final

import psycopg
from brokerauth.contract.errors import ConfigError, StoreError
from brokerauth.contract.scrub import scrub
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.secrets import Secret
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from brokerauth_sql.options import (
    SqlStoreOptions,
    check_postgres_transport,
    check_postgres_url,
    database_kind,
    postgres_location,
)
from brokerauth_sql.pgurl import PgUrl
from brokerauth_sql.rows import Cursor, RowStore, log
from brokerauth_sql.schema import POSTGRES_MIGRATIONS, VERSION, migrate
from brokerauth_sql.watchdog import WATCHDOG

__all__ = ["PostgresStore", "advisory_key"]

_REASON_LIMIT: Final = 300
#: Seconds of one wait in ``pg_advisory_lock`` when the waiter checks between them whether
#: its wait is over (:meth:`_SessionLock.stop_when`).
_WAIT_SLICE: Final = 0.5
_IDLE: Final = TransactionStatus.IDLE
#: The advisory lock migrations take (any 64-bit number no row key is likely to be).
_SCHEMA_LOCK: Final = 0x6272_6F6B_6572_0001
#: Pools (and the connections kept out of them) of a parent process, kept referenced in a
#: forked child: collecting one would close connections that are the parent's sessions too.
_INHERITED: list[object] = []
#: This process's id, set again in a forked child (os.getpid() is a system call, and a read
#: asks which process it is in).
_PID = [os.getpid()]
#: The connection holding the refresh lock of (store, key) in this thread or task: the
#: lock's holder writes its fence and its token through it, so a refresh needs one
#: connection of the pool, never two (a pool of holders waiting for a second would starve).
_LOCK_CONNECTIONS: contextvars.ContextVar[dict[tuple[str, TokenKey], Any]] = (
    contextvars.ContextVar("brokerauth_sql_lock_connections"))
_TABLES: Final = ("brokerauth_schema", "brokerauth_tokens", "brokerauth_budgets")
_STORES: weakref.WeakSet[PostgresStore] = weakref.WeakSet()


def _after_fork() -> None:
    _PID[0] = os.getpid()
    # A lock another thread of the parent held at the fork would stay held in the child.
    for store in list(_STORES):
        store._guard = threading.Lock()
        store._migrating = threading.Lock()
        store._counting = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


class _Redact(logging.Filter):
    """Masks the revealed passwords in psycopg's and psycopg_pool's own log records (a
    connection error from libpq may quote the text it could not read)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = scrub(message, self.secrets, limit=2000) or ""
            if masked != message:
                record.msg, record.args = masked, None
        return True


_REDACT = _Redact()
for _name in ("psycopg", "psycopg.pool"):
    logging.getLogger(_name).addFilter(_REDACT)


def advisory_key(purpose: str, key: TokenKey) -> int:
    """The advisory lock number of ``key``'s row for ``purpose`` (``"row"`` for writes,
    ``"refresh"`` for the refresh lock): a signed 64-bit integer, as PostgreSQL takes it."""
    text = json.dumps(["brokerauth", purpose, key.profile, key.identity], ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@cache
def _pg(sql: str) -> str:
    # The shared statements use sqlite3's ``?``; none holds a ``?`` or ``%`` of its own.
    return sql.replace("?", "%s")


def _milliseconds(seconds: float) -> str:
    # PostgreSQL's timeouts are whole milliseconds up to 2^31 - 1; 0 would mean "no limit".
    return f"{min(max(1, math.ceil(seconds * 1000)), 2**31 - 1)}ms"


class _Executor:
    """A connection that runs the shared statements (``?`` placeholders)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self._connection.execute(_pg(sql), parameters)


class PostgresStore(RowStore):
    """The tokens of one PostgreSQL database (one per options value)."""

    #: Seconds a connection may stay out of the pool, or lie unused on the store's stack,
    #: before it goes back through the pool (the module's docstring says why).
    keep_for: float = 30.0

    def __init__(self, options: SqlStoreOptions) -> None:
        super().__init__(options)
        self._conninfo: str | None = None
        #: Where the server is, worked out once the URL is revealed (it names every error).
        self._location: str | None = None
        self._hidden: tuple[str, ...] = ()
        self._pinned: dict[str, str] = {}
        self._pool: ConnectionPool[Any] | None = None
        self._pool_pid = 0
        #: The pool's connections this process holds now, in use or kept, each with when it
        #: left the pool: all of them out is the one case a pool timeout must stay an error;
        #: psycopg_pool's own pool_size also counts the connections it is still trying to
        #: make, so it cannot tell the two apart.
        self._taken: dict[psycopg.Connection[Any], float] = {}
        #: Connections of the pool kept idle between statements, the one used last on top,
        #: each with when it was put there.
        self._kept: list[tuple[psycopg.Connection[Any], float]] = []
        #: Threads waiting for a connection of the pool (they must not wait while one is kept).
        self._asking = 0
        self._counting = threading.Lock()
        self._guard = threading.Lock()
        self._migrating = threading.Lock()
        self._migrated = False
        _STORES.add(self)
        #: Why the latest connection attempt failed, for the "no connection" error.
        self._last_failure = ""

    @property
    def location(self) -> str:
        if self._location is not None:
            return self._location
        url = self.options.url
        if isinstance(url, Secret):
            return f"the database of url ({url.source})"
        return postgres_location(url)

    # -- connections -------------------------------------------------------------------
    def _url(self) -> str:
        """The URL, revealed, read as libpq reads it and checked, once."""
        if self._conninfo is not None:
            return self._conninfo
        url = self.options.url
        value = url.reveal() if isinstance(url, Secret) else url
        source = f" ({url.source})" if isinstance(url, Secret) else ""
        try:
            if database_kind(value) != "postgresql":
                raise ValueError("is not a postgresql:// URL")
            read: PgUrl = check_postgres_url(value, plain=not isinstance(url, Secret))
            check_postgres_transport(read, encrypted=self.options.encryption_key is not None,
                                     allow_plaintext=self.options.allow_plaintext)
        except ValueError as exc:
            raise ConfigError(f"the sql store's url{source} {exc}",
                              hint="fix the value the reference points to" if source
                              else "fix the profile's store url") from None
        self._hidden = read.secrets
        _REDACT.secrets.update(self._hidden)
        self._location = read.location
        self._pinned = read.pinned()
        self._conninfo = value
        return value

    def _pool_now(self) -> ConnectionPool[Any]:
        pool = self._pool
        if pool is not None and self._pool_pid == _PID[0]:
            return pool
        with self._guard:
            if self._pool is not None and self._pool_pid == _PID[0]:
                return self._pool
            if self._pool is not None:
                _INHERITED.extend((self._pool, self._kept, self._taken))
            # What the parent held or kept belongs to the parent's pool.
            self._kept, self._taken, self._asking = [], {}, 0
            self._pool = self._make_pool()
            self._pool_pid = _PID[0]
            return self._pool

    def _make_pool(self) -> ConnectionPool[Any]:
        store = self
        options = self.options

        class RecordingConnection(psycopg.Connection[Any]):
            # The pool connects in its own threads and reports only a timeout: keep the
            # reason, so the error can say "password authentication failed", "refused".
            @classmethod
            def connect(cls, *args: Any, **kwargs: Any) -> Any:
                try:
                    made = super().connect(*args, **kwargs)
                except psycopg.Error as exc:
                    store._last_failure = store._reason(exc)
                    raise
                store._last_failure = ""
                return made

        conninfo = self._url()
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            connection_class=RecordingConnection,
            min_size=1,
            max_size=options.pool_size,
            open=False,
            timeout=options.connect_timeout,
            name="brokerauth-sql",
            configure=self._configure,
            max_idle=300.0,
            # Short, so that after a long outage a new attempt is made when a caller asks,
            # rather than at the end of a backoff grown while the server was down.
            reconnect_timeout=max(10.0, 2 * options.connect_timeout),
            kwargs=self._connect_kwargs(),
        )
        pool.open(wait=False)
        return pool

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            **self._pinned,
            "autocommit": True,
            # libpq counts whole seconds, and reads 1 as 2.
            "connect_timeout": max(2, math.ceil(self.options.connect_timeout)),
            "application_name": "brokerauth",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 30_000,
        }

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        with WATCHDOG.deadline(connection, self._statement_deadline()):
            connection.execute("SELECT set_config('statement_timeout', %s, false)",
                               (_milliseconds(self.options.busy_timeout),))

    def _direct_if_down(self, action: str, key: TokenKey) -> psycopg.Connection[Any]:
        """After the pool's timeout: the "no connection" error when every connection of the
        pool is in use here (a busy pool stays the limit pool_size promises), else a
        connection made now: the pool is reconnecting after an outage, perhaps waiting out
        its backoff."""
        if len(self._taken) >= self.options.pool_size:
            raise self._unreachable(action, key)
        return self._direct(action, key)

    def _direct(self, action: str, key: TokenKey) -> psycopg.Connection[Any]:
        """A connection made now, outside the pool, when the pool had none to give within
        connect_timeout: right after the server comes back the pool may still be waiting
        out its reconnection backoff, and a request should not fail for that."""
        try:
            connection = psycopg.connect(self._url(), **self._connect_kwargs())
        except psycopg.Error as exc:
            self._last_failure = self._reason(exc)
            raise self._unreachable(action, key) from None
        try:
            self._configure(connection)
        except psycopg.Error as exc:
            connection.close()
            self._last_failure = self._reason(exc)
            raise self._unreachable(action, key) from None
        return connection

    @contextmanager
    def _connection(self, action: str, key: TokenKey) -> Iterator[psycopg.Connection[Any]]:
        held = _LOCK_CONNECTIONS.get(None)
        connection = held.get((self._identity, key)) if held else None
        if connection is not None:
            yield connection  # the refresh lock's own connection, already migrated
            return
        connection, owner = self._checkout(action, key)
        try:
            yield connection
        finally:
            self._give_back(owner, connection)

    def _checkout(
        self, action: str, key: TokenKey
    ) -> tuple[psycopg.Connection[Any], ConnectionPool[Any] | None]:
        """A connection with the schema made, and the pool it goes back to (``None``: made
        outside the pool, closed when given back): the one this store kept last, else one
        of the pool, else (the pool had none within connect_timeout) one made now, unless
        every connection of the pool is in use here.  See :meth:`_give_back`."""
        pool = self._pool_now()
        owner: ConnectionPool[Any] | None = pool
        connection = self._take_kept()
        if connection is None:
            with self._counting:
                self._asking += 1
            try:
                # One kept meanwhile is taken here, or handed to the pool for this wait
                # (_give_back, which sees _asking).
                connection = self._take_kept()
                if connection is None:
                    connection = pool.getconn(timeout=self.options.connect_timeout)
                    with self._counting:
                        self._taken[connection] = time.monotonic()
            except PoolTimeout:
                connection, owner = self._direct_if_down(action, key), None
            finally:
                with self._counting:
                    self._asking -= 1
        if not self._migrated:
            try:
                self._migrate(connection, key)
            except BaseException:
                self._give_back(owner, connection)
                raise
        return connection, owner

    def _take_kept(self) -> psycopg.Connection[Any] | None:
        try:
            return self._kept.pop()[0]  # one step under the GIL: no two threads get it
        except IndexError:
            return None

    def _give_back(self, pool: ConnectionPool[Any] | None,
                   connection: psycopg.Connection[Any]) -> None:
        """A connection kept for the next statement, or back to its pool, or closed when it
        was made outside one."""
        if pool is None:
            connection.close()
            return
        if pool is self._pool:
            now = time.monotonic()
            if (connection.pgconn.transaction_status == _IDLE and not connection.closed
                    and now - self._taken.get(connection, -math.inf) < self.keep_for):
                self._kept.append((connection, now))
                # All of them when someone waits for the pool, else those unused too long.
                self._hand_over(pool, None if self._asking else now - self.keep_for)
                return
            with self._counting:
                self._taken.pop(connection, None)
            pool.putconn(connection)
            self._hand_over(pool, now - self.keep_for)
            return
        pool.putconn(connection)

    def _hand_over(self, pool: ConnectionPool[Any], unused_since: float | None) -> None:
        """Kept connections back to the pool: all of them, or (``unused_since``) those kept
        unused since before then, the oldest first."""
        kept = self._kept
        while kept:
            try:
                connection, since = kept[0]
                if unused_since is not None and since >= unused_since:
                    return
                kept.remove((connection, since))
            except (IndexError, ValueError):
                continue  # another thread took it meanwhile
            with self._counting:
                self._taken.pop(connection, None)
            pool.putconn(connection)

    def _statement_deadline(self) -> float:
        # The server cancels a statement after busy_timeout; past this, it is not answering.
        return self.options.busy_timeout + self.options.connect_timeout

    def _migrate(self, connection: psycopg.Connection[Any], key: TokenKey) -> None:
        # Its own lock, not _guard: the pool must stay reachable while one thread migrates.
        with self._migrating:
            if self._migrated:
                return
            action = "prepare the token database for"
            try:
                with WATCHDOG.deadline(connection, 2 * self._statement_deadline()) as limit:
                    self._check_owners(connection, key)  # before trusting what is there
                    found = connection.execute(
                        "SELECT to_regclass('brokerauth_schema') IS NOT NULL").fetchone()
                    current = False
                    if found is not None and found[0]:
                        row = connection.execute(
                            "SELECT version FROM brokerauth_schema").fetchone()
                        current = row is not None and int(row[0]) == VERSION
                    version: int | None = VERSION
                    if not current:
                        with connection.transaction():
                            connection.execute("SELECT pg_advisory_xact_lock(%s)",
                                               (_SCHEMA_LOCK,))
                            version = migrate(_Executor(connection), POSTGRES_MIGRATIONS,
                                              where=self.location)
                    self._check_owners(connection, key)
            except psycopg.Error as exc:
                raise self._store_error(exc, action, key, cut=limit.fired) from None
            if version is not None and version < VERSION:
                log.info("migrated the token database %s from schema version %d to %d",
                         self.location, version, VERSION)
            self._migrated = True

    def _check_owners(self, connection: psycopg.Connection[Any], key: TokenKey) -> None:
        """Refuse tables another role made: a role able to create tables where ours are
        looked for (``public``, before PostgreSQL 15) could make them first and read every
        token stored in them."""
        rows = connection.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.oid = ANY(ARRAY[to_regclass(%s), to_regclass(%s), to_regclass(%s)]) "
            "AND NOT pg_has_role(c.relowner, 'USAGE')", _TABLES).fetchall()
        strangers = [(str(table), str(owner)) for table, owner in rows
                     if str(owner) not in self.options.table_owners]
        if strangers:
            named = ", ".join(f"{table} (owned by {owner!r})" for table, owner in strangers)
            raise StoreError(
                f"cannot use the token database {self.location} for {key}: its tables "
                f"{named} belong to a role this connection's user is not a member of; "
                "that role could read every token stored there",
                hint="drop them and let the store create its own, or, if that role is yours "
                "(a migration role), list it in the store's table_owners option",
            )

    # -- the back end ------------------------------------------------------------------
    def _read(self, action: str, key: TokenKey, sql: str,
              parameters: Sequence[Any]) -> list[Any]:
        # Every load passes here: written out, without the context managers of _connection
        # and WATCHDOG.deadline, which cost a load more than the bookkeeping they hold.
        query = _pg(sql)
        seconds = self._statement_deadline()
        held = _LOCK_CONNECTIONS.get(None)
        lock_connection = held.get((self._identity, key)) if held else None
        attempts = self.options.pool_size + 1
        for attempt in range(attempts):
            if lock_connection is not None:
                connection, owner = lock_connection, None
            else:
                connection, owner = self._checkout(action, key)
            limit = WATCHDOG.arm(connection, seconds)
            try:
                rows: list[Any] = connection.execute(query, parameters).fetchall()
                return rows
            except psycopg.Error as exc:
                # A pooled (or kept) connection the server had closed: another is tried.
                if (attempt + 1 < attempts and lock_connection is None and connection.broken
                        and not limit.fired):
                    continue
                raise self._store_error(exc, action, key, cut=limit.fired) from None
            finally:
                limit.live = False
                if lock_connection is None:
                    self._give_back(owner, connection)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _write(self, action: str, key: TokenKey) -> Iterator[_Executor]:
        # BEGIN and the row's lock in one round trip (numbers only, made here: nothing of a
        # caller's is put in the text); a connection found dead there has done nothing yet,
        # so another is tried.
        begin = (f"BEGIN; SELECT set_config('lock_timeout', "
                 f"'{_milliseconds(self.options.busy_timeout)}', true), "
                 f"pg_advisory_xact_lock({advisory_key('row', key)})")
        for last in self._attempts():
            with self._connection(action, key) as connection, WATCHDOG.deadline(
                    connection, 2 * self._statement_deadline()) as limit:
                try:
                    connection.execute(begin)
                except psycopg.Error as exc:
                    if not last and connection.broken and not limit.fired:
                        continue
                    self._roll_back(connection)
                    raise self._store_error(exc, action, key, cut=limit.fired) from None
                try:
                    yield _Executor(connection)
                    connection.execute("COMMIT")
                except psycopg.Error as exc:
                    self._roll_back(connection)
                    raise self._store_error(exc, action, key, cut=limit.fired) from None
                except BaseException:
                    self._roll_back(connection)
                    raise
                return

    def _attempts(self) -> Iterator[bool]:
        """One attempt per pooled connection and one more, each told whether it is the last:
        after a restart of the server every idle connection of the pool is dead, and each
        is found out by the statement that meets it."""
        for number in range(self.options.pool_size + 1):
            yield number == self.options.pool_size

    @staticmethod
    def _roll_back(connection: psycopg.Connection[Any]) -> None:
        if connection.broken:
            return
        try:
            connection.execute("ROLLBACK")
        except psycopg.Error:
            connection.close()  # the pool replaces it

    def _refresh_lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
        return _SessionLock(self, key, timeout)

    def close(self) -> None:
        """Close this process's pool (a new one is made if the store is used again)."""
        with self._guard:
            pool, self._pool = self._pool, None
            kept, self._kept, self._taken = self._kept, [], {}
            mine = self._pool_pid == _PID[0]
        if pool is not None and mine:
            for connection, _since in kept:
                connection.close()
            pool.close(timeout=5.0)
        elif kept:
            _INHERITED.append(kept)  # the parent's sessions

    # -- errors ------------------------------------------------------------------------
    def _reason(self, exc: BaseException) -> str:
        """The first line of a driver's message, without any part of the URL's secrets."""
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag is not None else None
        lines = (primary or str(exc) or type(exc).__name__).strip().splitlines()
        # The server's words are outside text: one printable line, the password masked.
        return scrub(" ".join(line.strip() for line in lines[:2]), self._hidden,
                     limit=_REASON_LIMIT) or type(exc).__name__

    def _unreachable(self, action: str, key: TokenKey) -> StoreError:
        why = self._last_failure or "the pool had no free connection"
        return StoreError(
            f"cannot {action} {key}: no connection to the PostgreSQL server at "
            f"{self.location} within {self.options.connect_timeout:g} s ({why})",
            hint="check that the server is running and reachable, and the URL's host, port, "
            "user and password; if every connection is busy, raise the store's pool_size",
        )

    def _store_error(self, exc: psycopg.Error, action: str, key: TokenKey, *,
                     cut: bool = False) -> StoreError:
        reason = self._reason(exc)
        what = f"cannot {action} {key} in the token database {self.location}"
        if cut:
            return StoreError(
                f"{what}: the server did not answer within {self._statement_deadline():g} s, "
                "so the connection was cut",
                hint="check the server's health and the network to it; the next request "
                "tries again on another connection",
            )
        if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
            return StoreError(
                f"{what}: another writer held its row for more than "
                f"{self.options.busy_timeout:g} s ({reason})",
                hint="find the session holding a long transaction (pg_stat_activity), or "
                "raise the store's busy_timeout",
            )
        if isinstance(exc, pg_errors.InsufficientPrivilege):
            return StoreError(
                f"{what}: the database user may not do it ({reason})",
                hint="grant the user the right to create and change the brokerauth_* tables "
                "(or create them once as their owner)",
            )
        if isinstance(exc, psycopg.OperationalError):
            return StoreError(
                f"{what}: the connection failed ({reason})",
                hint="check that the server is running and reachable; the next request "
                "tries again",
            )
        return StoreError(f"{what} ({type(exc).__name__}: {reason})",
                          hint="check the database's state and the server's log")


class _SessionLock(AbstractContextManager[bool]):
    """The refresh lock of one row: a session-level advisory lock on a connection held out
    of the pool until the block ends (the module's docstring says why)."""

    def __init__(self, store: PostgresStore, key: TokenKey, timeout: float) -> None:
        self._store = store
        self._key = key
        self._timeout = timeout
        self._number = advisory_key("refresh", key)
        self._pool: ConnectionPool[Any] | None = None
        self._connection: psycopg.Connection[Any] | None = None
        self._context_token: contextvars.Token[dict[tuple[str, TokenKey], Any]] | None = None
        self._stop_when: Callable[[], bool] | None = None

    def __repr__(self) -> str:
        return f"_SessionLock({self._key}, {'held' if self._connection else 'not held'})"

    def stop_when(self, check: Callable[[], bool]) -> None:
        """End the wait, entering with ``False``, as soon as ``check()`` is true: the wait in
        ``pg_advisory_lock`` is then made in slices of :data:`_WAIT_SLICE` (the server still
        hands the lock over the moment it is released), with ``check()`` between them.  Call
        before entering."""
        self._stop_when = check

    def __enter__(self) -> bool:
        store, action = self._store, "take the refresh lock of"
        for last in store._attempts():
            # The schema is made before the lock's row is written.
            connection, owner = store._checkout(action, self._key)
            try:
                with WATCHDOG.deadline(connection, max(self._timeout, 0)
                                       + store._statement_deadline()) as limit:
                    held = self._take(connection)
            except psycopg.Error as exc:
                store._give_back(owner, connection)
                if not last and connection.broken and not limit.fired:
                    continue
                raise store._store_error(exc, action, self._key, cut=limit.fired) from None
            except BaseException:
                store._give_back(owner, connection)
                raise
            if not held:
                store._give_back(owner, connection)
                return False
            self._pool, self._connection = owner, connection
            mine = (store._identity, self._key)
            self._context_token = _LOCK_CONNECTIONS.set(
                {**_LOCK_CONNECTIONS.get({}), mine: connection})
            return True
        raise AssertionError("unreachable")  # pragma: no cover

    def _take(self, connection: psycopg.Connection[Any]) -> bool:
        if self._timeout <= 0:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)",
                                     (self._number,)).fetchone()
            return bool(row and row[0])
        deadline = time.monotonic() + self._timeout
        check = self._stop_when
        # Without a check the wait is one slice, the whole timeout.
        piece = self._timeout if check is None else min(_WAIT_SLICE, self._timeout)
        try:
            while True:
                # The wait is bounded by lock_timeout alone, not by the statement limit.
                connection.execute(
                    "SELECT set_config('lock_timeout', %s, false), "
                    "set_config('statement_timeout', %s, false)",
                    (_milliseconds(piece), _milliseconds(piece + 5)))
                try:
                    connection.execute("SELECT pg_advisory_lock(%s)", (self._number,))
                    return True
                except pg_errors.LockNotAvailable:
                    if self._granted(connection):
                        return True
                if check is None or deadline - time.monotonic() <= 0:
                    return False
                if self._checked(connection, check):
                    return False
                left = deadline - time.monotonic()  # the check took some of it
                if left <= 0:
                    return False
                piece = min(_WAIT_SLICE, left)
        finally:
            if not connection.broken:
                connection.execute(
                    "SELECT set_config('lock_timeout', '0', false), "
                    "set_config('statement_timeout', %s, false)",
                    (_milliseconds(self._store.options.busy_timeout),))

    def _granted(self, connection: psycopg.Connection[Any]) -> bool:
        """Whether this session holds the lock although its wait timed out: a release at the
        instant ``lock_timeout`` fires grants the lock and still raises the timeout, and a
        session lock outlives the failed statement.  Taken for not held, it would stay held
        by a pooled connection, and every other process would wait for it in vain."""
        number = self._number & 0xFFFF_FFFF_FFFF_FFFF
        row = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
            "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
            "AND classid = %s::bigint::oid AND objid = %s::bigint::oid)",
            (number >> 32, number & 0xFFFF_FFFF)).fetchone()
        return bool(row and row[0])

    def _checked(self, connection: psycopg.Connection[Any], check: Callable[[], bool]) -> bool:
        """``check()``, with the store's statements on this key made on the waiting
        connection, idle between two slices: the check needs no connection of the pool,
        which may have none to spare (``pool_size = 1``)."""
        mine = (self._store._identity, self._key)
        token = _LOCK_CONNECTIONS.set({**_LOCK_CONNECTIONS.get({}), mine: connection})
        try:
            return check()
        finally:
            _LOCK_CONNECTIONS.reset(token)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        pool, connection = self._pool, self._connection
        self._pool = self._connection = None
        if connection is None:
            return
        token, self._context_token = self._context_token, None
        if token is not None:
            try:
                _LOCK_CONNECTIONS.reset(token)
            except ValueError:  # left in another context than entered: drop ours only
                held = dict(_LOCK_CONNECTIONS.get({}))
                held.pop((self._store._identity, self._key), None)
                _LOCK_CONNECTIONS.set(held)
        try:
            with WATCHDOG.deadline(connection, self._store._statement_deadline()):
                connection.execute("SELECT pg_advisory_unlock(%s)", (self._number,))
        except psycopg.Error as error:
            # The lock ends with the session: closing it is the release.
            log.warning("%s: could not release the refresh lock in %s (%s); closing its "
                        "connection releases it", self._key, self._store.location,
                        self._store._reason(error))
            connection.close()
        finally:
            self._store._give_back(pool, connection)

