"""The ``sql`` store on SQLite: one database file, shared by every process of one host.

The file is kept like a token file (:mod:`brokerauth.toolkit.privatefiles`, the one
implementation of those rules): its folder is vetted (ours, 0700, no link, nothing above it
that another user could swap), the file is created 0600 whatever the umask before SQLite
opens it, and a file that is a link, another user's or open to others is refused.  SQLite
gives its ``-wal`` and ``-shm`` files the database's mode.

Every write is one ``BEGIN IMMEDIATE`` transaction in WAL mode with ``synchronous=FULL``:
a reader (never blocked by a writer) sees the row before or after, never a mix, and a
committed token survives a power cut.  Every SQLite failure becomes a
:class:`~brokerauth.contract.errors.StoreError` naming the database's path and what to do
(a database that is not one, or is damaged: :class:`~brokerauth.contract.errors.CorruptStoreError`),
so the core treats it like any store trouble: a session keeps the valid token it holds, and
a refresh it could not store is logged, as with the Redis store.

Connections are one per thread (SQLite's own rule) and per process (one inherited through
``fork`` is never used).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Final

from brokerauth.contract.errors import ConfigError, CorruptStoreError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit import privatefiles as files
from brokerauth.toolkit.secrets import Secret
from brokerauth.toolkit.wokenlock import WokenLock

from brokerauth_sql.options import SqlStoreOptions, sqlite_path
from brokerauth_sql.rows import RowStore, StaleWriteError, entry_name, log
from brokerauth_sql.schema import SQLITE_MIGRATIONS, VERSION, migrate

# StaleWriteError and entry_name lived here before the PostgreSQL back end: kept importable.
__all__ = ["SqliteStore", "StaleWriteError", "entry_name"]

_WHAT: Final = "token database"
_REASON_LIMIT: Final = 200


class SqliteStore(RowStore):
    """The tokens of one SQLite database (one per options value)."""

    def __init__(self, options: SqlStoreOptions) -> None:
        super().__init__(options)
        self._local = threading.local()
        self._path: Path | None = None
        self._migrated = False

    @property
    def location(self) -> str:
        """The database's path, safe to show (a SQLite URL holds nothing else)."""
        if self._path is not None:
            return str(self._path)
        url = self.options.url
        if isinstance(url, Secret):
            return f"the database of url ({url.source})"
        return str(sqlite_path(url))

    @property
    def path(self) -> Path:
        """The database file (a secret URL is revealed on first use)."""
        if self._path is None:
            url = self.options.url
            if isinstance(url, Secret):
                try:
                    self._path = sqlite_path(url.reveal())
                except ValueError as exc:
                    raise ConfigError(
                        f"the sql store's url ({url.source}) {exc}",
                        hint="fix the value the reference points to",
                    ) from None
            else:
                self._path = sqlite_path(url)
        return self._path

    # -- the back end ------------------------------------------------------------------
    def _read(self, action: str, key: TokenKey, sql: str,
              parameters: Sequence[Any]) -> list[Any]:
        connection = self._connection(key)
        with self._sqlite(action, key):
            return connection.execute(sql, parameters).fetchall()

    def _refresh_lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
        """An OS lock on ``<database>.locks/<hash of the pair>`` (:mod:`brokerauth_sql.lock`
        says why), the file store's: its waiters are woken when it is released, and a wait
        ends early when the holder has stored what the waiter needs
        (:class:`brokerauth.toolkit.wokenlock.WokenLock`)."""
        folder = self.path.parent
        digest = hashlib.sha256(json.dumps([key.profile, key.identity]).encode("ascii"))
        where = folder / f"{self.path.name}.locks" / digest.hexdigest()[:40]
        return WokenLock(where, key, timeout, top=folder)

    def close(self) -> None:
        """Close this thread's connection (it is opened again if the store is used again)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()

    # -- the database --------------------------------------------------------------------
    def _connection(self, key: TokenKey) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        connection = self._open(key)
        self._local.connection, self._local.pid = connection, os.getpid()
        return connection

    def _open(self, key: TokenKey) -> sqlite3.Connection:
        path = self.path
        files.ensure_folders(path.parent, path.parent, key, create=True)
        if not os.path.lexists(path):
            self._create(path, key)
        # Vetted as a token file is (regular, ours, 0600, no link) before SQLite opens it;
        # reading its first byte is what read_private's checks cost.
        if files.read_private(path, key, _WHAT, limit=0) is None:
            raise StoreError(f"the {_WHAT} {path} was removed while it was being opened",
                             hint="try again; if it keeps happening, find what removes it")
        with self._sqlite("open the token database for", key):
            connection = sqlite3.connect(path, timeout=self.options.busy_timeout,
                                         isolation_level=None)
            try:
                # Asked first: setting it, even to what it is, takes a lock that every
                # connection opened at once would queue for.
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(
                        f"the {_WHAT} {path} cannot use write-ahead logging (journal mode "
                        f"{mode})", hint="keep the database on a local disk",
                    )
                connection.execute("PRAGMA synchronous = FULL")
                if not self._migrated:
                    self._migrate(connection, key)
            except BaseException:
                connection.close()
                raise
        return connection

    def _create(self, path: Path, key: TokenKey) -> None:
        # An empty file is a new SQLite database; made here, 0600, rather than by SQLite with
        # the umask's mode.  Under the database's own lock file, so two processes creating
        # it at once cannot replace a database one of them already filled.
        with files.lock(path, key, self.options.busy_timeout, top=path.parent) as held:
            if not held:
                raise self._locked(f"create the {_WHAT} for", key)
            if not os.path.lexists(path):
                files.write_private(path, b"", key, _WHAT)

    def _migrate(self, connection: sqlite3.Connection, key: TokenKey) -> None:
        if self._current(connection, key):
            self._migrated = True
            return
        with self._transaction(connection, "prepare the token database for", key):
            version = migrate(connection, SQLITE_MIGRATIONS, where=str(self.path))
        if version is not None and version < VERSION:
            log.info("migrated the %s %s from schema version %d to %d", _WHAT, self.path,
                     version, VERSION)
        self._migrated = True

    def _current(self, connection: sqlite3.Connection, key: TokenKey) -> bool:
        """Whether the schema is this code's version, read without a write transaction (the
        usual case: only a new or older database needs one)."""
        with self._sqlite("open the token database for", key):
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'brokerauth_schema'"
            ).fetchone()
            if found is None:
                return False
            row = connection.execute("SELECT version FROM brokerauth_schema").fetchone()
        return row is not None and int(row[0]) == VERSION

    @contextmanager
    def _write(self, action: str, key: TokenKey) -> Iterator[sqlite3.Connection]:
        connection = self._connection(key)
        with self._transaction(connection, action, key):
            yield connection

    @contextmanager
    def _transaction(
        self, connection: sqlite3.Connection, action: str, key: TokenKey
    ) -> Iterator[None]:
        # Threads of this process queue on a lock of their own first: SQLite's busy handler
        # polls with growing pauses, and among many threads of one process an unlucky one
        # could miss every turn until busy_timeout; processes still meet in SQLite.
        writers = _writers_of(self.path)
        if not writers.acquire(timeout=self.options.busy_timeout):
            raise self._locked(action, key, "other threads of this process were writing")
        try:
            # IMMEDIATE: the write lock is taken at BEGIN, so a read-then-write never fails
            # half way with SQLITE_BUSY, and busy_timeout bounds the wait for it.
            with self._sqlite(action, key):
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
        finally:
            writers.release()

    @contextmanager
    def _sqlite(self, action: str, key: TokenKey | str) -> Iterator[None]:
        """Turn what sqlite3 raises into a :class:`StoreError` naming the database."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._store_error(exc, action, key) from None

    def _store_error(self, exc: sqlite3.Error, action: str, key: TokenKey | str) -> StoreError:
        # sqlite3's messages name the problem, never a value from a row.
        reason = str(exc)[:_REASON_LIMIT]
        what = f"cannot {action} {key} in the {_WHAT} {self.location}"
        lowered = reason.lower()
        if "locked" in lowered or "busy" in lowered:
            return self._locked(action, key, reason)
        if isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered
        ):
            return CorruptStoreError(
                f"{what}: it is not a SQLite database, or it is damaged ({reason})",
                hint=f"move {self.location} away (every identity it held then logs in again), "
                "or put back a good copy",
            )
        return StoreError(
            f"{what} ({type(exc).__name__}: {reason})",
            hint="check the file's and its folder's owner and mode, and the disk's free space",
        )

    def _locked(self, action: str, key: TokenKey | str, reason: str = "") -> StoreError:
        return StoreError(
            f"cannot {action} {key}: the {_WHAT} {self.location} stayed locked by another "
            f"writer for more than {self.options.busy_timeout:g} s"
            + (f" ({reason})" if reason else ""),
            hint="find the process holding a long transaction on it (a `sqlite3` shell left "
            "in a transaction?), or raise the store's busy_timeout",
        )


_WRITERS: dict[Path, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


def _forget_writers() -> None:
    # A child of fork() starts with one thread: a lock another thread of the parent held at
    # the fork would stay held in the child for ever.
    global _WRITERS_GUARD
    _WRITERS_GUARD = threading.Lock()
    _WRITERS.clear()


os.register_at_fork(after_in_child=_forget_writers)


def _writers_of(path: Path) -> threading.Lock:
    """The lock the threads of this process take to write to the database at ``path``."""
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(path, threading.Lock())
