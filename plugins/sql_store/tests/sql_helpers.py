"""Small helpers of the SQL store's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from brokerauth_sandbox.bearer.helpers import make_token, token_fields

__all__ = ["Raw", "make_token", "sql_store", "token_fields"]

#: Runs one statement (``?`` placeholders) on the test's database, outside the store (the
#: ``raw`` fixture of conftest.py).
Raw = Callable[..., list[Any]]


def sql_store(database: Path, /, **options: Any) -> dict[str, Any]:
    """A profile's ``store`` value for the SQLite database at ``database``."""
    return {"name": "sql", "url": f"sqlite://{database}", **options}
