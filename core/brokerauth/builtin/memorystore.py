"""The ``memory`` store: tokens in a dict, for tests and short-lived scripts.

Nothing leaves the process and nothing survives it; the lock excludes threads of this
process only.  Tokens are immutable, so the store keeps them as given.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager

from brokerauth.contract.specs import CallBudget
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.budget import MemoryBudgets

__all__ = ["MemoryStore"]


class MemoryStore:
    """A thread-safe, per-instance token store with one lock per key."""

    def __init__(self) -> None:
        self._tokens: dict[TokenKey, Token] = {}
        self._locks: dict[TokenKey, threading.Lock] = {}
        self._budgets = MemoryBudgets()
        # Guards both dicts; held only for a lookup, never while a caller holds a key's lock.
        self._guard = threading.Lock()

    def load(self, key: TokenKey) -> Token | None:
        with self._guard:
            return self._tokens.get(key)

    def save(self, key: TokenKey, token: Token) -> None:
        with self._guard:
            self._tokens[key] = token

    def delete(self, key: TokenKey) -> bool:
        with self._guard:
            return self._tokens.pop(key, None) is not None

    def lock(self, key: TokenKey, timeout: float = 0.0) -> AbstractContextManager[bool]:
        """Yields ``True`` once ``key`` is locked, ``False`` after ``timeout`` seconds
        (``0``: one attempt; negative: no limit).  Not re-entrant, like the file store's."""
        with self._guard:
            key_lock = self._locks.setdefault(key, threading.Lock())
        return _held(key_lock, timeout)

    def take_call(self, key: TokenKey, budget: CallBudget, now: float) -> float:
        """Count one token-endpoint call against ``budget`` (this process only, like every
        other thing this store keeps)."""
        return self._budgets.take(key, budget, now)

    def list_keys(self, profile: str) -> list[TokenKey]:
        """The keys of ``profile`` that hold a token: a copy, so a caller may load, save or
        delete while going through it."""
        with self._guard:
            return [key for key in self._tokens if key.profile == profile]

    def keys(self) -> list[TokenKey]:
        """The keys that hold a token, for tests to inspect."""
        with self._guard:
            return list(self._tokens)

    def __repr__(self) -> str:
        # Counts only: even a test store's tokens stay out of reprs and logs.
        with self._guard:
            return f"MemoryStore({len(self._tokens)} tokens)"


@contextlib.contextmanager
def _held(key_lock: threading.Lock, timeout: float) -> Iterator[bool]:
    if timeout == 0:
        acquired = key_lock.acquire(blocking=False)
    else:
        acquired = key_lock.acquire(timeout=timeout if timeout > 0 else -1)
    try:
        yield acquired
    finally:
        if acquired:
            key_lock.release()
