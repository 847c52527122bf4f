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
import itertools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from brokerauth.contract.errors import (
    ConfigError,
    CorruptStoreError,
    StaleTokenError,
    StoreError,
)
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import privatefiles as files
from brokerauth.toolkit.envelope import ReplayedEntryError, StoreCipher, open_entry, seal_entry
from brokerauth.toolkit.secrets import Secret

from brokerauth_sql.lock import FencedLock, held_fence
from brokerauth_sql.options import SqlStoreOptions, sqlite_path
from brokerauth_sql.schema import MIGRATIONS, VERSION

if TYPE_CHECKING:
    from brokerauth.contract.specs import CallBudget
    from cryptography.fernet import MultiFernet

__all__ = ["SqliteStore", "StaleWriteError", "entry_name"]

log = logging.getLogger("brokerauth.store.sql")

_WHAT: Final = "token database"
_STORE: Final = "sql"
_WHERE: Final = "the database"
# Identities listed per query: a platform's thousands of users take a few round trips, and
# no read transaction stays open while the caller works through them.
_LIST_BATCH: Final = 1000
_REASON_LIMIT: Final = 200
_store_ids = itertools.count(1)


class StaleWriteError(StaleTokenError):
    """A lock holder tried to store a token after a logout (or a newer holder) since it took
    the lock; what is stored now is kept."""


def entry_name(key: TokenKey) -> str:
    """What an encrypted row is sealed for (the envelope's ``entry``): the table and the
    pair, so a sealed value copied to another row, or another table, is refused.  The
    database's path is not part of it: a database moved or restored elsewhere stays readable."""
    return "brokerauth_tokens:" + json.dumps([key.profile, key.identity], ensure_ascii=True)


class SqliteStore:
    """The tokens of one SQLite database (one per options value)."""

    def __init__(self, options: SqlStoreOptions) -> None:
        self.options = options
        self._local = threading.local()
        self._path: Path | None = None
        self._migrated = False
        self._keys = StoreCipher(options.encryption_key, store=_STORE)
        #: Tells this store's held locks from another store's in the same thread.
        self._identity = f"sql-store-{next(_store_ids)}"

    def __repr__(self) -> str:
        return f"SqliteStore({self.location})"

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

    # -- the operations ------------------------------------------------------------------
    def load(self, key: TokenKey) -> Token | None:
        connection = self._connection(key)
        with self._sqlite("read the token of", key):
            row = connection.execute(
                "SELECT data, generation, fence FROM brokerauth_tokens "
                "WHERE profile = ? AND identity = ?", (key.profile, key.identity),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        data, generation, fence = bytes(row[0]), int(row[1]), int(row[2])
        cipher = self._get_cipher()
        entry = open_entry(
            data, key, entry_name(key), cipher, clear_generation=generation, clear_fence=fence,
            source=self._source(key), key_source=self._key_source(), store=_STORE, where=_WHERE,
        )
        if entry is None:
            return None
        if entry.authenticated and entry.generation < generation:
            # Both are written by one statement: a sealed value older than its row's number
            # was copied back from an earlier state of the row.
            raise ReplayedEntryError(
                f"stored token {self._source(key)} is an older value of its row put back: its "
                f"sealed generation {entry.generation} is below the row's {generation}",
                hint=f"run `brokerauth logout {key.profile}` and log in again; unless the "
                "database was restored from a copy, find out who else can write to it",
            )
        return entry.token

    def save(self, key: TokenKey, token: Token) -> None:
        fence = held_fence(self._identity, key)
        cipher = self._get_cipher()
        with self._write("store the token of", key) as connection:
            row = connection.execute(
                "SELECT generation, fence FROM brokerauth_tokens "
                "WHERE profile = ? AND identity = ?", (key.profile, key.identity),
            ).fetchone()
            current_fence = int(row[1]) if row is not None else 0
            if fence is not None and row is not None and current_fence != fence:
                raise StaleWriteError(
                    f"{key}: while this process held the refresh lock, the token was logged "
                    f"out (or the lock taken again) in {self.location}; the token it "
                    "refreshed was not stored",
                    hint="nothing to do: what is stored now is used from the next request",
                )
            generation = _next_generation(int(row[0]) if row is not None else 0)
            data = seal_entry(token, entry_name(key), generation=generation, fence=current_fence,
                              cipher=cipher)
            connection.execute(
                "INSERT INTO brokerauth_tokens "
                "(profile, identity, data, generation, fence, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile, identity) DO UPDATE SET "
                "data = excluded.data, generation = excluded.generation, "
                "updated_at = excluded.updated_at",
                (key.profile, key.identity, data, generation, current_fence, time.time()),
            )
        log.debug("stored the token for %s in %s (generation %d%s)", key, self.location,
                  generation, "" if fence is None else f", under the lock, fence {fence}")

    def delete(self, key: TokenKey) -> bool:
        with self._write("log out", key) as connection:
            row = connection.execute(
                "SELECT data, generation FROM brokerauth_tokens "
                "WHERE profile = ? AND identity = ?", (key.profile, key.identity),
            ).fetchone()
            if row is None:
                return False
            # The row stays, without its token and with a fence past every holder so far,
            # so a refresh still running somewhere cannot bring the token back.
            connection.execute(
                "UPDATE brokerauth_tokens SET data = NULL, generation = ?, fence = fence + 1, "
                "updated_at = ? WHERE profile = ? AND identity = ?",
                (_next_generation(int(row[1])), time.time(), key.profile, key.identity),
            )
            return row[0] is not None

    def list_keys(self, profile: str) -> Iterator[TokenKey]:
        """The key of every identity of ``profile`` with a stored token, lazily, in batches
        along the primary key (no token is read or decrypted)."""
        return self._listed(profile)

    def _listed(self, profile: str) -> Iterator[TokenKey]:
        key = TokenKey(profile)
        after = ""
        while True:
            connection = self._connection(key)
            with self._sqlite("list the tokens of", f"profile {profile!r}"):
                rows = connection.execute(
                    "SELECT identity FROM brokerauth_tokens WHERE profile = ? AND identity > ? "
                    "AND data IS NOT NULL ORDER BY identity LIMIT ?",
                    (profile, after, _LIST_BATCH),
                ).fetchall()
            for (identity,) in rows:
                yield TokenKey(profile, identity)
            if len(rows) < _LIST_BATCH:
                return
            after = rows[-1][0]

    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        """Count one token-endpoint call against ``budget`` for every process using this
        database: read, :func:`brokerauth.toolkit.budget.take`, write, in one transaction."""
        from brokerauth.toolkit import budget as budgets

        with self._write("count a token request of", key) as connection:
            row = connection.execute(
                "SELECT calls FROM brokerauth_budgets "
                "WHERE profile = ? AND identity = ? AND budget = ?",
                (key.profile, key.identity, budget.name),
            ).fetchone()
            kept, wait = budgets.take(budgets.decode(bytes(row[0]) if row else None), now,
                                      budget)
            if wait == 0:
                connection.execute(
                    "INSERT INTO brokerauth_budgets (profile, identity, budget, calls) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (profile, identity, budget) DO UPDATE "
                    "SET calls = excluded.calls",
                    (key.profile, key.identity, budget.name, budgets.encode(kept)),
                )
        return wait

    def lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
        """The refresh lock of ``key`` (:mod:`brokerauth_sql.lock`)."""
        folder = self.path.parent
        digest = hashlib.sha256(json.dumps([key.profile, key.identity]).encode("ascii"))
        where = folder / f"{self.path.name}.locks" / digest.hexdigest()[:40]

        def take_fence() -> int:
            with self._write("take the refresh lock of", key) as connection:
                (fence,) = connection.execute(
                    "INSERT INTO brokerauth_tokens "
                    "(profile, identity, data, generation, fence, updated_at) "
                    "VALUES (?, ?, NULL, 0, 1, ?) ON CONFLICT (profile, identity) "
                    "DO UPDATE SET fence = fence + 1 RETURNING fence",
                    (key.profile, key.identity, time.time()),
                ).fetchone()
            return int(fence)

        return FencedLock(
            store_id=self._identity, key=key,
            os_lock=files.lock(where, key, timeout, top=folder),
            take_fence=take_fence,
        )

    def close(self) -> None:
        """Close this thread's connection (it is opened again if the store is used again)."""
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()

    # -- the database --------------------------------------------------------------------
    def _connection(self, key: TokenKey) -> sqlite3.Connection:
        _check_names(key)
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
            connection.execute(
                "CREATE TABLE IF NOT EXISTS brokerauth_schema (version INTEGER NOT NULL)")
            row = connection.execute("SELECT version FROM brokerauth_schema").fetchone()
            version = int(row[0]) if row is not None else 0
            if version > VERSION:
                raise StoreError(
                    f"the {_WHAT} {self.path} has schema version {version}, made by a newer "
                    f"brokerauth-sql (this one knows up to {VERSION})",
                    hint="upgrade brokerauth-sql on this machine",
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    connection.execute(statement)
            if row is None:
                connection.execute("INSERT INTO brokerauth_schema (version) VALUES (?)",
                                   (VERSION,))
            elif version < VERSION:
                connection.execute("UPDATE brokerauth_schema SET version = ?", (VERSION,))
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

    # -- cipher ----------------------------------------------------------------------------
    def _get_cipher(self) -> MultiFernet | None:
        return self._keys.get()

    def _key_source(self) -> str:
        return self._keys.source

    def _source(self, key: TokenKey) -> str:
        return f"{key} in {self.location}"


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


def _check_names(key: TokenKey) -> None:
    # TEXT columns hold UTF-8: a lone surrogate (a name decoded from undecodable bytes) has
    # no UTF-8 form, and an empty name is no one's.
    for what, name in (("profile", key.profile), ("identity", key.identity)):
        if not name:
            raise StoreError(f"a token cannot be stored under an empty {what} name")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError(
                f"the {what} name {name!r} is not valid Unicode text (it holds a lone "
                "surrogate), which the sql store cannot keep",
                hint=f"use a {what} name that is valid text",
            ) from None


def _next_generation(current: int) -> int:
    # Microseconds of the clock when that is larger: after a database is restored from an
    # older copy, new values are still above what processes saw before.
    return max(time.time_ns() // 1000, current + 1)
