"""The tables, and the forward migrations that build them.

The schema creates itself: the first connection to a database runs every migration it lacks,
in one write transaction (SQLite's DDL is transactional), so a crash half-way leaves the
version before, and two processes opening a new database at once migrate it once.  The
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
step appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["MIGRATIONS", "VERSION"]

#: Step ``n`` (counting from 1) brings a database from version ``n - 1`` to ``n``.
MIGRATIONS: Final[Sequence[Sequence[str]]] = (
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

#: The version this code writes and reads.
VERSION: Final = len(MIGRATIONS)
