"""The tables, and the forward migrations that build them.

The schema creates itself: the first connection to a database runs every migration it lacks,
in one write transaction (the DDL of SQLite and of PostgreSQL is transactional), so a crash
half-way leaves the version before, and two processes opening a new database at once migrate
it once (SQLite: the write lock of ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level
advisory lock taken before the version is read).  The
version is the single row of ``brokerauth_schema``; a database of a newer version than this
code knows is refused rather than guessed at.

Tables (version 2):

``brokerauth_tokens``
    one row per profile and identity: ``data`` the stored bytes (the token file's JSON, or the
    shared envelope's ``fernet2:`` when encrypted; ``NULL`` once logged out), ``generation``
    larger for every write, ``fence`` the number of the latest refresh lock taken on the row
    or logout (see :mod:`brokerauth_sql.sqlite`), ``updated_at`` a Unix time for people.
``brokerauth_budgets``
    the token-endpoint budget's call times per profile, identity and budget name.

Each step is a list of statements; a step is never edited once released, a change is a new
step appended to both lists.  The two dialects' steps make the same tables: PostgreSQL's
differ in types only (``BYTEA`` for ``BLOB``, ``BIGINT`` for the microsecond generations,
``DOUBLE PRECISION`` for times, since its ``REAL`` is four bytes) and in having no
``WITHOUT ROWID``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from brokerauth.contract.errors import StoreError

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS", "VERSION", "migrate"]

#: Step ``n`` (counting from 1) brings a database from version ``n - 1`` to ``n``.
SQLITE_MIGRATIONS: Final[Sequence[Sequence[str]]] = (
    # 1: the token rows.
    (
        """CREATE TABLE brokerauth_tokens (
            profile TEXT NOT NULL,
            identity TEXT NOT NULL,
            data BLOB,
            generation INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (profile, identity)
        ) WITHOUT ROWID""",
    ),
    # 2: the refresh lock's fence on each row, the time of the last write, the budgets.
    (
        "ALTER TABLE brokerauth_tokens ADD COLUMN fence INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE brokerauth_tokens ADD COLUMN updated_at REAL",
        """CREATE TABLE brokerauth_budgets (
            profile TEXT NOT NULL,
            identity TEXT NOT NULL,
            budget TEXT NOT NULL,
            calls BLOB NOT NULL,
            PRIMARY KEY (profile, identity, budget)
        ) WITHOUT ROWID""",
    ),
)

#: The same steps for PostgreSQL.
POSTGRES_MIGRATIONS: Final[Sequence[Sequence[str]]] = (
    # 1: the token rows.
    (
        """CREATE TABLE brokerauth_tokens (
            profile TEXT NOT NULL,
            identity TEXT NOT NULL,
            data BYTEA,
            generation BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (profile, identity)
        )""",
    ),
    # 2: the refresh lock's fence on each row, the time of the last write, the budgets.
    (
        "ALTER TABLE brokerauth_tokens ADD COLUMN fence BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE brokerauth_tokens ADD COLUMN updated_at DOUBLE PRECISION",
        """CREATE TABLE brokerauth_budgets (
            profile TEXT NOT NULL,
            identity TEXT NOT NULL,
            budget TEXT NOT NULL,
            calls BYTEA NOT NULL,
            PRIMARY KEY (profile, identity, budget)
        )""",
    ),
)

#: The version this code writes and reads.
VERSION: Final = len(SQLITE_MIGRATIONS)
if len(POSTGRES_MIGRATIONS) != VERSION:
    raise RuntimeError("each schema step is written for both back ends")


class _Runs(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Any: ...


def migrate(connection: _Runs, steps: Sequence[Sequence[str]], *, where: str) -> int | None:
    """Bring the database to :data:`VERSION` inside the caller's write transaction (which
    keeps other migrators out): the version table made if missing, each missing step run.

    ``connection`` runs statements with ``?`` placeholders; ``where`` names the database for
    the error.  Returns the version found (``None`` for a new database).

    :raises StoreError: the database is of a newer version than this code knows.
    """
    connection.execute("CREATE TABLE IF NOT EXISTS brokerauth_schema (version INTEGER NOT NULL)")
    row = connection.execute("SELECT version FROM brokerauth_schema").fetchone()
    version = int(row[0]) if row is not None else 0
    if version > VERSION:
        raise StoreError(
            f"the token database {where} has schema version {version}, made by a newer "
            f"brokerauth-sql (this one knows up to {VERSION})",
            hint="upgrade brokerauth-sql on this machine",
        )
    for step in steps[version:]:
        for statement in step:
            connection.execute(statement)
    if row is None:
        connection.execute("INSERT INTO brokerauth_schema (version) VALUES (?)", (VERSION,))
        return None
    if version < VERSION:
        connection.execute("UPDATE brokerauth_schema SET version = ?", (VERSION,))
    return version
