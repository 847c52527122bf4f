"""The token rows, the same on every back end: what a load, a store, a logout, a listing and
a token-request count read and write, and the rules they keep.

One statement text serves SQLite and PostgreSQL: the SQL here is the common part of both
dialects (``INSERT ... ON CONFLICT ... DO UPDATE``, ``RETURNING``), written with ``?``
placeholders, which the PostgreSQL back end turns into psycopg's ``%s``.  A back end
(:mod:`brokerauth_sql.sqlite`, :mod:`brokerauth_sql.postgres`) supplies the connections, the
write transaction, the refresh lock and the translation of its driver's errors; the rules
(the fence, the generation, sealing and opening a row, the listing's batches) live here once.

A write transaction is exclusive for its row: SQLite's ``BEGIN IMMEDIATE`` takes the
database's write lock, PostgreSQL's takes a transaction-level advisory lock on the row's key,
so a read-check-write (the fence check of a store, the count of a token request) never
interleaves with another writer of the same row.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final, Protocol

from brokerauth.contract.commands import for_key
from brokerauth.contract.errors import BrokerAuthError, StaleTokenError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.envelope import ReplayedEntryError, StoreCipher, open_entry, seal_entry

from brokerauth_sql.lock import FencedLock, held_fence

if TYPE_CHECKING:
    from brokerauth.contract.specs import CallBudget

    from brokerauth_sql.options import SqlStoreOptions

__all__ = ["Cursor", "Executor", "RowStore", "StaleWriteError", "entry_name"]

log = logging.getLogger("brokerauth.store.sql")

_STORE: Final = "sql"
_WHERE: Final = "the database"
# Identities listed per query: a platform's thousands of users take a few round trips, and
# no read transaction stays open while the caller works through them.
LIST_BATCH: Final = 1000
_store_ids = itertools.count(1)

_LOAD: Final = ("SELECT data, generation, fence FROM brokerauth_tokens "
                "WHERE profile = ? AND identity = ?")
_ROW_STATE: Final = ("SELECT generation, fence, data IS NOT NULL FROM brokerauth_tokens "
                     "WHERE profile = ? AND identity = ?")
_SAVE: Final = (
    "INSERT INTO brokerauth_tokens (profile, identity, data, generation, fence, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile, identity) DO UPDATE SET "
    "data = excluded.data, generation = excluded.generation, updated_at = excluded.updated_at"
)
# The row stays, without its token and with a fence past every holder so far, so a refresh
# still running somewhere cannot bring the token back.
_LOG_OUT: Final = (
    "UPDATE brokerauth_tokens SET data = NULL, generation = ?, fence = fence + 1, "
    "updated_at = ? WHERE profile = ? AND identity = ?"
)
_TAKE_FENCE: Final = (
    "INSERT INTO brokerauth_tokens (profile, identity, data, generation, fence, updated_at) "
    "VALUES (?, ?, NULL, 0, 1, ?) ON CONFLICT (profile, identity) "
    "DO UPDATE SET fence = brokerauth_tokens.fence + 1 RETURNING fence"
)
_LIST: Final = (
    "SELECT identity FROM brokerauth_tokens WHERE profile = ? AND identity > ? "
    "AND data IS NOT NULL ORDER BY identity LIMIT ?"
)
_CALLS: Final = ("SELECT calls FROM brokerauth_budgets "
                 "WHERE profile = ? AND identity = ? AND budget = ?")
_SAVE_CALLS: Final = (
    "INSERT INTO brokerauth_budgets (profile, identity, budget, calls) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (profile, identity, budget) DO UPDATE SET calls = excluded.calls"
)


class StaleWriteError(StaleTokenError):
    """A lock holder tried to store a token after a logout (or a newer holder) since it took
    the lock; what is stored now is kept."""


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Executor(Protocol):
    """What a back end's write transaction yields: a connection that runs one statement."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...


def entry_name(key: TokenKey) -> str:
    """What an encrypted row is sealed for (the envelope's ``entry``): the table and the
    pair, so a sealed value copied to another row, or another table, is refused.  The
    database's location is not part of it: a database moved or restored elsewhere stays
    readable."""
    return "brokerauth_tokens:" + json.dumps([key.profile, key.identity], ensure_ascii=True)


class RowStore(ABC):
    """The tokens of one database (one store per options value)."""

    def __init__(self, options: SqlStoreOptions) -> None:
        self.options = options
        self._keys = StoreCipher(options.encryption_key, store=_STORE)
        #: Tells this store's held locks from another store's in the same thread.
        self._identity = f"sql-store-{next(_store_ids)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location})"

    # -- what a back end supplies ----------------------------------------------------------
    @property
    @abstractmethod
    def location(self) -> str:
        """Where the database is, safe to show: never a password or a user name."""

    @abstractmethod
    def _read(self, action: str, key: TokenKey, sql: str,
              parameters: Sequence[Any]) -> list[Any]:
        """The rows one read statement returns, outside any write transaction."""

    @abstractmethod
    def _write(self, action: str, key: TokenKey) -> AbstractContextManager[Executor]:
        """A write transaction, exclusive for ``key``'s row, committed when the block ends
        and rolled back when it raises; driver errors become :class:`StoreError`."""

    @abstractmethod
    def _refresh_lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
        """The lock (without the fence) that one holder of ``key`` takes to refresh: it dies
        with its holder, and waits at most ``timeout`` seconds."""

    @abstractmethod
    def close(self) -> None:
        """Let go of this store's connections (they reopen if the store is used again)."""

    # -- the operations ------------------------------------------------------------------
    def load(self, key: TokenKey) -> Token | None:
        _check_names(key)
        rows = self._read("read the token of", key, _LOAD, (key.profile, key.identity))
        if not rows or rows[0][0] is None:
            return None
        return self._opened(key, rows[0])

    def load_many(self, keys: Sequence[TokenKey]) -> dict[TokenKey, Token | BrokerAuthError]:
        """The tokens of ``keys`` in one query per profile and :data:`LIST_BATCH` keys; an
        entry that cannot be read maps to its error (the others are still given)."""
        found: dict[TokenKey, Token | BrokerAuthError] = {}
        by_profile: dict[str, list[TokenKey]] = {}
        for key in keys:
            _check_names(key)
            by_profile.setdefault(key.profile, []).append(key)
        for profile, wanted in by_profile.items():
            for start in range(0, len(wanted), LIST_BATCH):
                part = wanted[start:start + LIST_BATCH]
                marks = ", ".join("?" for _ in part)
                # Only placeholders are joined into the text; every value is a parameter.
                rows = self._read(
                    "read the tokens of", part[0],
                    "SELECT identity, data, generation, fence FROM brokerauth_tokens "  # noqa: S608
                    f"WHERE profile = ? AND identity IN ({marks})",
                    (profile, *(key.identity for key in part)))
                for identity, *row in rows:
                    if row[0] is None:
                        continue
                    key = TokenKey(profile, identity)
                    try:
                        token = self._opened(key, row)
                    except BrokerAuthError as exc:
                        found[key] = exc
                        continue
                    if token is not None:
                        found[key] = token
        return found

    def _opened(self, key: TokenKey, row: Sequence[Any]) -> Token | None:
        """The token of ``key``'s row (data, generation, fence), checked."""
        data, generation, fence = bytes(row[0]), int(row[1]), int(row[2])
        entry = open_entry(
            data, key, entry_name(key), self._keys.get(), clear_generation=generation,
            clear_fence=fence, source=self._source(key), key_source=self._keys.source,
            store=_STORE, where=_WHERE,
        )
        if entry is None:
            return None
        if entry.authenticated and entry.generation < generation:
            # Both are written by one statement: a sealed value older than its row's number
            # was copied back from an earlier state of the row.
            raise ReplayedEntryError(
                f"stored token {self._source(key)} is an older value of its row put back: its "
                f"sealed generation {entry.generation} is below the row's {generation}",
                hint=f"run `{for_key('logout', key)}` and log in again; unless the "
                "database was restored from a copy, find out who else can write to it",
            )
        return entry.token

    def save(self, key: TokenKey, token: Token) -> None:
        _check_names(key)
        fence = held_fence(self._identity, key)
        cipher = self._keys.get()
        with self._write("store the token of", key) as connection:
            row = connection.execute(_ROW_STATE, (key.profile, key.identity)).fetchone()
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
            connection.execute(_SAVE, (key.profile, key.identity, data, generation,
                                       current_fence, time.time()))
        log.debug("stored the token for %s in %s (generation %d%s)", key, self.location,
                  generation, "" if fence is None else f", under the lock, fence {fence}")

    def delete(self, key: TokenKey) -> bool:
        from brokerauth.toolkit.tokencodec import forget_all

        _check_names(key)
        try:
            with self._write("log out", key) as connection:
                row = connection.execute(_ROW_STATE, (key.profile, key.identity)).fetchone()
                if row is None:
                    return False
                connection.execute(_LOG_OUT, (_next_generation(int(row[0])), time.time(),
                                              key.profile, key.identity))
                return bool(row[2])
        finally:
            forget_all()  # the decoder's memo keeps no logged-out token

    def list_keys(self, profile: str) -> Iterator[TokenKey]:
        """The key of every identity of ``profile`` with a stored token, lazily, in batches
        along the primary key (no token is read or decrypted)."""
        _check_names(TokenKey(profile))
        return self._listed(profile)

    def _listed(self, profile: str) -> Iterator[TokenKey]:
        key = TokenKey(profile)
        after = ""
        while True:
            rows = self._read("list the tokens of", key, _LIST, (profile, after, LIST_BATCH))
            for (identity,) in rows:
                yield TokenKey(profile, identity)
            if len(rows) < LIST_BATCH:
                return
            after = rows[-1][0]

    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        """Count one token-endpoint call against ``budget`` for every process using this
        database: read, :func:`brokerauth.toolkit.budget.take`, write, in one transaction."""
        from brokerauth.toolkit import budget as budgets

        _check_names(key)
        with self._write("count a token request of", key) as connection:
            row = connection.execute(
                _CALLS, (key.profile, key.identity, budget.name)).fetchone()
            kept, wait = budgets.take(budgets.decode(bytes(row[0]) if row else None), now,
                                      budget)
            if wait == 0:
                connection.execute(_SAVE_CALLS, (key.profile, key.identity, budget.name,
                                                 budgets.encode(kept)))
        return wait

    def lock(self, key: TokenKey, timeout: float) -> AbstractContextManager[bool]:
        """The refresh lock of ``key`` and the fence it takes (:mod:`brokerauth_sql.lock`)."""
        _check_names(key)

        def take_fence() -> int:
            with self._write("take the refresh lock of", key) as connection:
                (fence,) = connection.execute(
                    _TAKE_FENCE, (key.profile, key.identity, time.time())).fetchone()
            return int(fence)

        return FencedLock(store_id=self._identity, key=key,
                          os_lock=self._refresh_lock(key, timeout), take_fence=take_fence)

    def _source(self, key: TokenKey) -> str:
        return f"{key} in {self.location}"


def _check_names(key: TokenKey) -> None:
    # TEXT columns hold UTF-8: a lone surrogate (a name decoded from undecodable bytes) has
    # no UTF-8 form, and an empty name is no one's.  PostgreSQL's text cannot hold NUL.
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
        if "\x00" in name:
            raise StoreError(
                f"the {what} name {name!r} holds a NUL character, which the sql store "
                "cannot keep", hint=f"use a {what} name without control characters",
            )


def _next_generation(current: int) -> int:
    # Microseconds of the clock when that is larger: after a database is restored from an
    # older copy, new values are still above what processes saw before.
    return max(time.time_ns() // 1000, current + 1)
