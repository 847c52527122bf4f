"""Code run in child processes by the fleet tests (imported by name after spawn)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def hold_lock(options: Any, key: Any, ready: Any) -> None:
    """Take the store's lock through the plugin, say so, then hang on to it until killed."""
    from brokerauth_redis.plugin import RedisPlugin

    lock = RedisPlugin().lock_token("redis", key, options, 5.0)
    assert lock is not None
    with lock as held:
        ready.put(held)
        time.sleep(120)


def late_writer(options: Any, key: Any, fields: dict[str, Any], go_file: str, ready: Any,
                results: Any) -> None:
    """Take the lock, say so, wait for ``go_file`` (the parent freezes this process past the
    lease meanwhile), then store a token made of ``fields`` under the lock and report what
    happened."""
    from brokerauth.contract.tokens import Token
    from brokerauth_redis.plugin import RedisPlugin

    token = Token(**fields)

    plugin = RedisPlugin()
    lock = plugin.lock_token("redis", key, options, 5.0)
    assert lock is not None
    with lock as held:
        ready.put(held)
        while not Path(go_file).exists():
            time.sleep(0.002)
        try:
            plugin.store_token("redis", key, token, options)
            outcome = "stored"
        except Exception as exc:
            outcome = type(exc).__name__
    results.put(outcome)
