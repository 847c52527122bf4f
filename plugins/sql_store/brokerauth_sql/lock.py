"""The refresh lock: an OS file lock per profile and identity, and the fence it takes.

Why an OS lock rather than a lock row with a lease: SQLite has no sessions, so a lock row
would need a lease that its holder renews from a thread and others watch expire, with every
waiter polling the database.  A ``flock`` on a file beside the database dies with its holder
the instant the process does (``kill -9`` included), costs no writes while held, and needs no
clock; the file store uses the same lock (:class:`brokerauth.toolkit.wokenlock.WokenLock`,
with all its checks, and its waiters woken on release), so there is one implementation of
it.  One lock file per profile and identity (``<database>.locks/<hash>.lock``) lets
different users refresh in parallel; a
write transaction (``BEGIN IMMEDIATE``) as the lock would stop every other writer of the
database for the length of a network call.

Why a fence as well: an OS lock cannot be taken from a paused holder, but a logout (or a
lock file removed by hand, letting a second holder in) can happen while one is paused; when
it wakes it must not bring back the token that was logged out.  Taking the lock increments
the row's ``fence`` in the same database the token lives in; a logout increments it too; a
holder's ``store_token`` writes only if the row's fence is still its own
(:class:`~brokerauth_sql.sqlite.StaleWriteError` otherwise).  A PostgreSQL back end keeps
the same fence, with a lock that dies with its holder's session in place of the file.

How ``store_token`` finds the fence: as in the Redis store, entering the lock records its
fence in a :class:`~contextvars.ContextVar` under (store, key), and leaving removes it; the
core enters the lock and stores the refreshed token in the same thread.

A waiter's ``stop_when`` (the core's "has the holder stored what I wait for?", and its
notice of a long wait) is handed to the back end's own lock, which calls it between its
attempts.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any

from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.fences import HeldFences

__all__ = ["FencedLock", "held_fence"]

_HELD = HeldFences("brokerauth_sql_held_fences")


def held_fence(store_id: str, key: TokenKey) -> int | None:
    """The fence of the lock on ``key`` that store ``store_id`` holds in this thread (or
    asyncio task), if any."""
    return _HELD.get(store_id, key)


class FencedLock(AbstractContextManager[bool]):
    """One attempt to hold the refresh lock of ``key``, used once as a context manager.

    ``os_lock`` is the OS lock's context manager (yielding whether it is held), ``take_fence``
    increments and returns the row's fence once it is held.
    """

    def __init__(
        self,
        *,
        store_id: str,
        key: TokenKey,
        os_lock: AbstractContextManager[bool],
        take_fence: Callable[[], int],
    ) -> None:
        self._store_id = store_id
        self._key = key
        self._os_lock = os_lock
        self._take_fence = take_fence
        self._stack: ExitStack | None = None
        self._context_token: contextvars.Token[Any] | None = None

    def __repr__(self) -> str:
        state = "held" if self._stack is not None else "not held"
        return f"FencedLock({self._key}, {state})"

    def stop_when(self, check: Callable[[], bool]) -> None:
        """End the wait, entering with ``False``, as soon as ``check()`` is true (see
        :class:`brokerauth.engine.refresh.StoppableLock`): handed to the back end's lock,
        which calls it between its attempts; a back end whose lock cannot end its wait early
        waits until held or timed out, as the protocol allows.  Call before entering."""
        stoppable = getattr(self._os_lock, "stop_when", None)
        if stoppable is not None:
            stoppable(check)

    def __enter__(self) -> bool:
        if self._stack is not None:
            raise RuntimeError("a FencedLock is entered once")
        stack = ExitStack()
        if not stack.enter_context(self._os_lock):
            stack.close()
            return False
        try:
            fence = self._take_fence()
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        self._context_token = _HELD.hold(self._store_id, self._key, fence)
        return True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        token, self._context_token = self._context_token, None
        if token is not None:
            _HELD.release(token, self._store_id, self._key)
        stack.close()
