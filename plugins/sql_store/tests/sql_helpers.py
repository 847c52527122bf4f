"""Small helpers of the SQL store's tests."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import Token

#: The bearer double, the broker these tests' sessions run over, is the Redis store's tests'
#: (see conftest.py): in the source tree, not in this distribution's sdist, whose tests
#: tools/wheel_tests.sh runs alone.
BEARER_DOUBLE = Path(__file__).resolve().parents[2] / "redis_store" / "tests" / "bearer_double"
needs_bearer_double = pytest.mark.skipif(
    not BEARER_DOUBLE.is_dir(),
    reason="needs the bearer double of the source tree's plugins/redis_store/tests")

#: Runs one statement (``?`` placeholders) on the test's database, outside the store (the
#: ``raw`` fixture of conftest.py).
Raw = Callable[..., list[Any]]


def sql_store(database: Path, /, **options: Any) -> dict[str, Any]:
    """A profile's ``store`` value for the SQLite database at ``database``."""
    return {"name": "sql", "url": f"sqlite://{database}", **options}


def make_token(label: str = "t", **changes: Any) -> Token:
    """A fresh, valid-looking token with random secrets."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "access_token": f"{label}-{secrets.token_urlsafe(16)}",
        "refresh_token": f"{label}-refresh-{secrets.token_urlsafe(16)}",
        "broker": "bearer_double",
        "issued_at": now,
        "expires_at": now + timedelta(hours=1),
        "extra": {"client": "c-1"},
    }
    fields.update(changes)
    return Token(**fields)


def token_fields(token: Token) -> dict[str, Any]:
    """What crosses to a spawned process (Token.extra is a read-only mapping pickle refuses)."""
    return {name: getattr(token, name) for name in
            ("access_token", "refresh_token", "broker", "issued_at", "expires_at")}
