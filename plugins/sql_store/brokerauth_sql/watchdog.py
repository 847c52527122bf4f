"""A client-side deadline for statements: libpq has none.

``statement_timeout`` is enforced by the server and TCP keepalives are answered by the
peer's kernel, so a backend that stops (a paused VM, a process stuck in I/O, a hostile
server that completes the start-up then goes quiet) would hold a caller for ever.  One
thread per process watches the deadlines of every statement in flight; when one passes, it
shuts the connection's socket down, so the blocked call returns at once with a connection
error, and the pool replaces the connection.

Arming costs a lock and a heap push (:meth:`Watchdog.arm`); disarming is one attribute set,
without the lock: a statement that ends first only marks its entry, and ended entries at the
top of the heap are dropped by the next arm or by the thread.  The thread is woken only by a
deadline earlier than the one it already sleeps towards, so under a steady stream of
statements it wakes about once per deadline period, not once per statement (a wake-up per
statement costs a thread switch, and the GIL, in every read).
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

__all__ = ["WATCHDOG", "Deadline", "Watchdog"]


class Deadline:
    """One armed deadline; ``fired`` tells, after the statement, whether it was cut."""

    __slots__ = ("at", "connection", "fired", "live", "number")

    def __init__(self, at: float, number: int, connection: Any) -> None:
        self.at = at
        self.number = number
        self.connection = connection
        self.live = True
        self.fired = False

    def __lt__(self, other: Deadline) -> bool:
        return (self.at, self.number) < (other.at, other.number)


class Watchdog:
    """Cuts the socket of a connection whose statement outlives its deadline."""

    def __init__(self) -> None:
        self._numbers = itertools.count()
        self.reset()

    def reset(self) -> None:
        """Forget every deadline and the thread (in a forked child, which has no thread and
        may hold a lock one of the parent's threads held)."""
        self._condition = threading.Condition()
        self._heap: list[Deadline] = []
        #: When the thread wakes next by itself; an entry due before it must wake it.
        self._wake_at = math.inf
        self._starting = threading.Lock()
        #: Whether this process's thread runs (a forked child's is reset, and has none).
        self._running = False

    def arm(self, connection: Any, seconds: float) -> Deadline:
        """Watch ``connection`` for ``seconds`` from now, until :meth:`disarm`."""
        entry = Deadline(time.monotonic() + seconds, next(self._numbers), connection)
        if not self._running:
            self._start()
        heap = self._heap
        with self._condition:
            while heap and not heap[0].live:
                heapq.heappop(heap)
            heapq.heappush(heap, entry)
            if entry.at < self._wake_at:
                self._wake_at = entry.at
                self._condition.notify()
        return entry

    @staticmethod
    def disarm(entry: Deadline) -> None:
        """The statement ended: its deadline no longer counts (the entry leaves the heap when
        it reaches the top)."""
        entry.live = False

    @contextmanager
    def deadline(self, connection: Any, seconds: float) -> Iterator[Deadline]:
        entry = self.arm(connection, seconds)
        try:
            yield entry
        finally:
            entry.live = False

    def _start(self) -> None:
        with self._starting:
            if self._running:
                return
            threading.Thread(target=self._watch, name="brokerauth-sql-watchdog",
                             daemon=True).start()
            self._running = True

    def _watch(self) -> None:
        condition = self._condition
        while True:
            with condition:
                while self._heap and not self._heap[0].live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake_at = math.inf
                    condition.wait()
                    continue
                head = self._heap[0]
                left = head.at - time.monotonic()
                if left > 0:
                    # Entries that end first are left to lapse: every one still in the heap
                    # is due at or after this, so none is missed.
                    self._wake_at = head.at
                    condition.wait(left)
                    continue
                heapq.heappop(self._heap)
                head.fired = True
            _cut(head.connection)


def _cut(connection: Any) -> None:
    with suppress(Exception):
        descriptor = os.dup(connection.pgconn.socket)
        with socket.socket(fileno=descriptor) as sock:
            sock.shutdown(socket.SHUT_RDWR)


#: The process's watchdog.
WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.reset)
