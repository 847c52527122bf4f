"""A store that cannot save: the session keeps the valid token it holds, as with Redis."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from brokerauth_sandbox.clock import ManualClock
from sql_helpers import sql_store


def test_a_refresh_that_cannot_be_stored_keeps_the_session_going(
    double: Any, session_factory: Any, database: Path, manual_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_factory(double, name="platform",
                              store=sql_store(database, busy_timeout=0.2))
    assert session.get("/api/me").ok
    token = session.token
    refreshes = double.refresh_calls

    # Another writer holds the database past busy_timeout: nothing can be stored.
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # Into the early-refresh window: one caller tries, cannot store, and says so.
        manual_clock.advance(double.token_lifetime - 200)
        for _ in range(5):
            assert session.get("/api/me").status == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert any("stayed locked" in r.getMessage() and str(database) in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert session.token == token
    assert double.refresh_calls == refreshes, "no refresh without the lock's fence"
    # The database is back: the next refresh is stored.
    manual_clock.advance(150)
    assert session.get("/api/me").ok
    assert session.binding.load() == session.token
    assert session.token != token
