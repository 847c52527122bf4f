"""Which fence each held store lock carries, per thread or asyncio task.

A store whose lock can lapse under its holder (a Redis lease) or be superseded (the SQL
store's row fence) numbers each taking of the lock, and writes a token only while the number
it took is still the current one: a holder paused past its lock cannot overwrite a newer
token.  The store's write learns the number from here, not through the hook's arguments,
which know nothing of locks.  Context-local, so two threads or tasks holding two locks never
see each other's.
"""

from __future__ import annotations

import contextvars
from collections.abc import Hashable, Mapping
from types import MappingProxyType


class HeldFences:
    """The fences held in the current context, by (store, key)."""

    def __init__(self, name: str) -> None:
        self._held: contextvars.ContextVar[Mapping[tuple[str, Hashable], int]] = (
            contextvars.ContextVar(name, default=MappingProxyType({})))

    def get(self, store_id: str, key: Hashable) -> int | None:
        """The fence store ``store_id`` holds on ``key`` here, if any."""
        return self._held.get().get((store_id, key))

    def hold(self, store_id: str, key: Hashable,
             fence: int) -> contextvars.Token[Mapping[tuple[str, Hashable], int]]:
        """Record ``fence`` as held here; give the result to :meth:`release`."""
        held = dict(self._held.get())
        held[(store_id, key)] = fence
        return self._held.set(MappingProxyType(held))

    def release(self, token: contextvars.Token[Mapping[tuple[str, Hashable], int]],
                store_id: str, key: Hashable) -> None:
        """Forget what :meth:`hold` recorded."""
        try:
            self._held.reset(token)
        except ValueError:
            # Left from another context than the one that entered (a context manager handed
            # to another thread): remove just this lock's entry there.
            held = dict(self._held.get())
            held.pop((store_id, key), None)
            self._held.set(MappingProxyType(held))
