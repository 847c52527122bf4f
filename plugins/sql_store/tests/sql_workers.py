"""Code run in child processes by the multi-process tests (imported by name after spawn)."""

from __future__ import annotations

import time
from typing import Any


def hold_lock(options: Any, key: Any, ready: Any) -> None:
    """Take the store's lock through the plugin, say so, then hang on to it until killed."""
    from brokerauth_sql.plugin import SqlPlugin

    lock = SqlPlugin().lock_token("sql", key, options, 5.0)
    assert lock is not None
    with lock as held:
        ready.put(held)
        time.sleep(120)  # killed long before: this process only holds the lock


def write_many(options: Any, key: Any, fields: dict[str, Any], count: int, ready: Any) -> None:
    """Store ``count`` tokens one after another (a parent kills this process meanwhile)."""
    from brokerauth.contract.tokens import Token
    from brokerauth_sql.plugin import SqlPlugin

    plugin = SqlPlugin()
    ready.put(True)
    for number in range(count):
        token = Token(**{**fields, "access_token": f"{fields['access_token']}-{number}"})
        plugin.store_token("sql", key, token, options)
