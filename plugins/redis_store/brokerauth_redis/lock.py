"""The refresh lock: a lease in Redis with a fencing token, renewed while its holder lives.

Why a lease with renewal rather than a long TTL: a holder that dies must free the lock within
about ``lock_ttl`` (the hookspec asks for a second), yet a refresh may take longer than that
(a slow broker).  So the lease is short and a daemon thread of the holder extends it every
third of ``lock_ttl``; a killed or frozen process stops extending it, and Redis drops it.

Why a fence: a process frozen past its lease (a VM pause, ``SIGSTOP``, a long GC) wakes up
still believing it holds the lock.  Each acquisition is numbered, and the store refuses a
token from a holder numbered lower than the one that last wrote (the number sealed in the
stored value, with an encryption key), so the frozen process cannot overwrite a newer token
(see :mod:`brokerauth_redis.scripts` and :mod:`brokerauth_redis.store`).

How ``store_token`` finds the fence: the core calls ``lock_token``, enters it, then calls
``store_token`` in the same thread (``TokenManager``: re-read, refresh, store).  Entering the
lock records its fence in a :class:`~contextvars.ContextVar` under (store, lock key), and
leaving removes it; ``store_token`` looks it up there.  A context variable is per thread (and
per asyncio task), so another thread of the same process writing meanwhile is an ordinary,
unfenced write, exactly as if it came from another process without the lock.

How a waiter learns the lock is free: each release announces itself on a Pub/Sub channel of
the key (:data:`brokerauth_redis.scripts.RELEASE`).  A waiter that found the lock taken
listens for it through its store's one subscription (:mod:`brokerauth_redis.releases`: one
connection per store, outside the command pool, shared by every wait), polls as before until
that subscription is confirmed (every step bounded by the poll, so by ``timeout``), tries once
more (the holder may have released before the subscription took), then waits for an
announcement between two attempts instead of sleeping.  A store whose subscription is
confirmed already (it waited before) listens before the first attempt instead, so a waiter
that finds the lock held makes that one attempt and waits: no second round trip per waiter
while the holder refreshes.  The holder releases before it stops its renewer thread, so the
announcement goes out without waiting for that thread to wake and end.  Every waiter hears
the release at once, within a round trip.  A caller that only wants the holder's result
(the core, waiting for another process's refresh) says so with :meth:`LeaseLock.stop_when`:
after each failed attempt it checks the store, and a waiter that finds the new token there
gives up the lock instead of queueing for it, so a crowd of waiters is served together, not
one lock hand-over after another.  The announcement is only a hint: the wait for it ends
after the poll interval it replaces whatever happens, so one that is lost (a holder killed,
whose lease runs out; a broken subscription) costs at most the poll of before, and
``timeout`` bounds the whole wait as it always did.
"""

from __future__ import annotations

import contextvars
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Protocol

from brokerauth.toolkit.fences import HeldFences

__all__ = ["LeaseLock", "ReleaseListener", "held_fence"]

log = logging.getLogger("brokerauth.store.redis")

#: First and longest pause between two attempts of a waiting process, in seconds, when no
#: release wakes it earlier (a holder killed, whose lease runs out): short enough that the
#: waiter gets in soon after the lease ends, long enough that a fleet of waiters costs Redis
#: little.  A waiter that listens for releases waits the longest pause from the start.
FIRST_POLL = 0.005
MAX_POLL = 0.05

_HELD = HeldFences("brokerauth_redis_held_fences")


class ReleaseListener(Protocol):
    """One waiter's ear for the releases of one lock (see :mod:`brokerauth_redis.releases`)."""

    def confirmed(self, within: float) -> bool:
        """Whether the subscription is confirmed (no release is missed from then on),
        waiting at most ``within`` seconds for it; it spends them (a sleep) when it cannot
        be confirmed at all."""

    def wait(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for a release; ``True`` if one came."""

    def close(self) -> None:
        """Stop listening."""


def held_fence(store_id: str, lock_key: str) -> int | None:
    """The fence of the lock on ``lock_key`` that store ``store_id`` holds in this thread (or
    asyncio task), if any."""
    return _HELD.get(store_id, lock_key)


class LeaseLock(AbstractContextManager[bool]):
    """One attempt to hold the lock, used once as a context manager.

    ``acquire()`` returns the fence (> 0) or 0 when another holder has the lock, ``renew()``
    and ``release()`` return whether the lock was still this holder's; each raises what the
    store raises when Redis cannot be reached (a :class:`~brokerauth.contract.errors.StoreError`).
    """

    def __init__(
        self,
        *,
        store_id: str,
        lock_key: str,
        label: str,
        ttl: float,
        timeout: float,
        acquire: Callable[[str, int], int],
        renew: Callable[[str, int], bool],
        release: Callable[[str], bool],
        listen: Callable[[], ReleaseListener | None] | None = None,
        heard: Callable[[], ReleaseListener | None] | None = None,
    ) -> None:
        self._store_id = store_id
        self._lock_key = lock_key
        self._label = label
        self._ttl_ms = max(1, round(ttl * 1000))
        self._timeout = timeout
        self._acquire = acquire
        self._renew = renew
        self._release = release
        #: Starts listening for the lock's releases, without waiting: a ReleaseListener, or
        #: ``None`` (poll).
        self._listen = listen
        #: A listener whose subscription is confirmed already, registered at once, or
        #: ``None`` (nothing is made): taken before the first attempt, so a waiter that
        #: finds the lock held hears its release without a second attempt.
        self._heard = heard
        self._stop_when: Callable[[], bool] | None = None
        # No ':' in it: the lock's value is "<holder>:<fence>".
        self._holder = secrets.token_hex(16)
        self._value: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._context_token: contextvars.Token[Any] | None = None

    def __repr__(self) -> str:
        state = "held" if self._value is not None else "not held"
        return f"LeaseLock({self._label}, {state})"

    # -- entering and leaving ------------------------------------------------------------
    def __enter__(self) -> bool:
        if self._value is not None:
            raise RuntimeError("a LeaseLock is entered once")
        fence = self._wait_for_lock()
        if not fence:
            return False
        self._value = f"{self._holder}:{fence}"
        self._context_token = _HELD.hold(self._store_id, self._lock_key, fence)
        self._renewer = threading.Thread(
            target=self._keep_alive, name=f"brokerauth-redis-lease {self._label}", daemon=True
        )
        self._renewer.start()
        log.debug("%s: holding the refresh lock (fence %d)", self._label, fence)
        return True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._value is None:
            return
        self._forget_fence()
        self._stop.set()
        try:
            # Released first, the renewer stopped after: the waiters are told at once, not
            # after a thread's wake-up and exit (a renewal that meets the released lock is
            # not a lapse: see _keep_alive).
            released = self._release(self._value)
        except Exception as problem:
            # The lease runs out by itself within lock_ttl; failing the caller's refresh,
            # which is done and stored, would only hide the result.
            log.warning("%s: could not release the refresh lock (%s); it frees itself "
                        "within the lease", self._label, _reason(problem))
            released = True
        finally:
            if self._renewer is not None:
                self._renewer.join(timeout=1.0)
        if not released:
            log.warning("%s: the refresh lock had already expired when released: this "
                        "process was paused or cut off from Redis for longer than lock_ttl",
                        self._label)

    # -- internals -----------------------------------------------------------------------
    def stop_when(self, check: Callable[[], bool]) -> None:
        """Give up waiting, entering with ``False`` before ``timeout``, as soon as ``check()``
        is true; it is called after each failed attempt at the lock that follows a wait (the
        caller's own test: "has the holder stored what I was waiting for?").  Call before
        entering."""
        self._stop_when = check

    def _wait_for_lock(self) -> int:
        deadline = None if self._timeout < 0 else time.monotonic() + self._timeout
        pause = FIRST_POLL
        longest = min(MAX_POLL, self._ttl_ms / 4000)
        listener: ReleaseListener | None = None
        confirmed = False
        listening = self._listen is not None and self._timeout != 0
        try:
            if listening and self._heard is not None:
                # Listening before the first attempt: a release after it is heard, so the
                # attempt need not be repeated once the listener is there.
                listener = self._heard()
                if listener is not None:
                    listening, confirmed, pause = False, True, longest
            while True:
                fence = self._acquire(self._holder, self._ttl_ms)
                if fence:
                    return fence
                wait = pause * (0.5 + random.random())  # noqa: S311 - jitter, not a secret
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return 0
                    wait = min(wait, left)
                if listening:
                    listening = False
                    assert self._listen is not None
                    listener = self._listen()
                released = False
                if listener is None:
                    time.sleep(wait)
                elif not confirmed:
                    # The wait of this poll goes to the subscription's confirmation (every
                    # step bounded by the poll, so by the timeout too): until it comes, the
                    # polls stay short.
                    if listener.confirmed(wait):
                        confirmed = True
                        # A release is heard at once from now on: the polls are only for a
                        # lease that runs out unreleased, and short ones would only take
                        # the holder's CPU and Redis's time while it refreshes.
                        pause = longest
                        continue  # once more, in case it was released meanwhile
                else:
                    released = listener.wait(wait)
                # After a wait (never before the first: the holder has only just begun), the
                # caller's check comes first: it needs the holder's result, not the lock.
                if self._stop_when is not None and self._stop_when():
                    return 0
                if not released:
                    pause = min(pause * 2, longest)
        finally:
            if listener is not None:
                listener.close()

    def _keep_alive(self) -> None:
        value = self._value
        assert value is not None
        interval = self._ttl_ms / 3000
        failures = 0
        while not self._stop.wait(interval):
            try:
                renewed = self._renew(value, self._ttl_ms)
            except Exception as problem:
                if self._stop.is_set():
                    return
                # Keep trying: Redis may answer again before the lease runs out.  One warning
                # per outage is news; one every third of lock_ttl would be noise.
                failures += 1
                log.log(logging.WARNING if failures == 1 else logging.DEBUG,
                        "%s: could not renew the refresh lock: %s", self._label,
                        _reason(problem))
                continue
            failures = 0
            if not renewed:
                if self._stop.is_set():
                    return  # released meanwhile, by its holder
                log.warning(
                    "%s: the refresh lock expired before it could be renewed (this process "
                    "was paused or cut off from Redis for longer than lock_ttl); a token it "
                    "stores now is refused if a newer holder stored one",
                    self._label,
                )
                return

    def _forget_fence(self) -> None:
        token, self._context_token = self._context_token, None
        if token is not None:
            _HELD.release(token, self._store_id, self._lock_key)


def _reason(problem: BaseException) -> str:
    message = getattr(problem, "message", None)
    return message if isinstance(message, str) else type(problem).__name__
