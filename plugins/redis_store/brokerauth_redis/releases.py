"""How a store's waiters hear that a lock was released: one subscriber per store.

Each release of a lock is announced on its key's channel (``<prefix>:{<P>:<I>}:released``,
see :data:`brokerauth_redis.scripts.RELEASE`).  A store listens to all of them through one
pattern subscription, ``<prefix>:*:released``, on one connection of its own: outside the
command pool (a wait never takes a connection a command needs, whatever ``max_connections``
says) and made once, not once per wait (no new TCP, TLS and AUTH round trips per waiter).  A
listener thread is the only user of that connection; it hands each announcement to the
waiters of that channel, each waiting on an :class:`threading.Event` of its own.

The subscriber is made on the first wait, closes itself once no one has waited for
:data:`IDLE` seconds (a quiet process is not sent every release of the fleet for ever), is
made anew in a forked child (the thread is the parent's), and is closed with its store.  A
Redis user who may not subscribe to the pattern (an ACL without the channel right
``&<prefix>:*:released``) is remembered as such: its waiters poll, and no wait tries again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis

__all__ = ["IDLE", "Subscriber", "close_all"]

log = logging.getLogger("brokerauth.store.redis")

#: Seconds without a waiter after which the subscriber closes its connection and its thread.
IDLE = 30.0
#: How often the listener looks up from its connection to see whether it is asked to stop or
#: has been idle long enough (it is woken at once by any announcement).
_TICK = 0.25
_LONGEST_BACKOFF = 5.0


#: Every subscriber of this process not yet collected (for :func:`close_all`).
_LIVE: weakref.WeakSet[Subscriber] = weakref.WeakSet()


def close_all(within: float = 1.0) -> None:
    """Close every subscriber of this process, their threads waited for (together) at most
    ``within`` seconds: at a shutdown, or between tests, so that no listener of a store
    whose server is gone keeps reconnecting to it.  A store makes a new one at its next
    wait."""
    subscribers = list(_LIVE)
    for subscriber in subscribers:
        subscriber.close(within=0)
    deadline = time.monotonic() + within
    for subscriber in subscribers:
        subscriber.join(max(0.0, deadline - time.monotonic()))


class Subscriber:
    """The pattern subscription of one store, with its listener thread."""

    def __init__(self, make_pubsub: Callable[[], Any], pattern: str, label: str) -> None:
        self._make_pubsub = make_pubsub
        self._pattern = pattern
        self._label = label
        self._guard = threading.Lock()
        self._waiters: dict[bytes, set[threading.Event]] = {}
        self._last_use = time.monotonic()
        self._stop = threading.Event()
        #: Set once the subscription is confirmed (or refused): from then on, while the
        #: connection holds, no release on the pattern goes unheard.
        self._settled = threading.Event()
        self._confirmed = False
        #: The server refused the subscription (an ACL without the channel right).
        self.refused = False
        #: Closed (idle, asked to, or refused): a wait needs a new subscriber.
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=f"brokerauth-redis-releases {label}",
                                        daemon=True)
        _LIVE.add(self)

    def start(self) -> None:
        self._thread.start()

    def register(self, channel: str) -> threading.Event | None:
        """An event set at each release announced on ``channel``, until :meth:`unregister`;
        ``None`` if this subscriber has closed meanwhile."""
        event = threading.Event()
        with self._guard:
            if self.closed:
                return None
            self._waiters.setdefault(channel.encode(), set()).add(event)
            self._last_use = time.monotonic()
        return event

    def unregister(self, channel: str, event: threading.Event) -> None:
        name = channel.encode()
        with self._guard:
            waiting = self._waiters.get(name)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiters[name]
            self._last_use = time.monotonic()

    def confirmed(self, within: float) -> bool:
        """Whether the subscription is confirmed, waiting at most ``within`` seconds (less
        when it is refused meanwhile)."""
        if not self._confirmed:
            self._settled.wait(max(0.0, within))
        return self._confirmed and not self.refused

    def close(self, within: float = 1.0) -> None:
        """Stop the listener; it closes the connection (waited for at most ``within`` s)."""
        with self._guard:
            self.closed = True
        self._stop.set()
        self.join(within)

    def join(self, within: float) -> None:
        """Wait at most ``within`` seconds for the listener thread to end."""
        if (within > 0 and self._thread.is_alive()
                and self._thread is not threading.current_thread()):
            self._thread.join(within)

    # -- the listener thread ---------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self._make_pubsub()
                pubsub.psubscribe(self._pattern)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=_TICK)
                    if message is None:
                        if self._idle():
                            return
                        continue
                    kind = message.get("type")
                    if kind == "psubscribe":
                        self._confirmed = True
                        self._settled.set()
                        backoff = 0.1
                    elif kind == "pmessage":
                        self._wake(message.get("channel"))
            except redis.exceptions.ResponseError as problem:
                # NOPERM: the user may not subscribe to the pattern.  Not asked again.
                log.debug("%s: cannot listen for releases of the refresh locks (%s); waiters "
                          "poll (the Redis user needs the channel right &%s)", self._label,
                          type(problem).__name__, self._pattern)
                self.refused = True
                self._settled.set()
                with self._guard:
                    self.closed = True
                return
            except Exception as problem:
                # A broken connection (a RedisError, or what the socket layer or the client
                # raises past it): waiters poll meanwhile, and releases are heard again once
                # subscribed anew.  Never the end of the listener.
                log.debug("%s: the subscription to lock releases broke (%s); subscribing "
                          "again", self._label, type(problem).__name__)
                self._confirmed = False
                self._settled.clear()
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # a broken connection's closing
                        pubsub.close()
            if self._stop.wait(backoff) or self._idle():
                return
            backoff = min(backoff * 2, _LONGEST_BACKOFF)

    def _idle(self) -> bool:
        with self._guard:
            if self._waiters or time.monotonic() - self._last_use < IDLE:
                return False
            self.closed = True
        return True

    def _wake(self, channel: object) -> None:
        if not isinstance(channel, bytes):
            return
        with self._guard:
            waiting = list(self._waiters.get(channel, ()))
        for event in waiting:
            event.set()
