"""A cross-process file lock whose waiters are woken when it is released, and whose wait can
end early: the refresh lock of the file store, and of every store that keeps its lock in a
file (the SQL store's SQLite back end, the keyring store).

Each attempt is :func:`brokerauth.toolkit.privatefiles.lock` (folders vetted, no link
followed, an OS lock that dies with its holder).  A waiter does not poll: between two attempts
it blocks in the kernel on the lock file (a shared ``flock`` request, which the kernel grants
the moment the holder releases or dies, and which is given back at once), so it tries again
as soon as the lock is free.  One such request per lock file is pending in a process at a
time, made in a helper thread and shared by all of that process's waits, however long the
holder holds.  The poll of before (:data:`brokerauth.toolkit.privatefiles.LOCK_POLL_INTERVAL`)
remains the longest it waits between attempts whatever happens, and the timeout bounds the
whole wait.  A lock found held by a probe of a few system calls (a crowd of processes waiting
for one refresh) is waited for at once, without a first full attempt: each of them costs the
machine's CPU while the holder refreshes.

A wait's ``stop_when`` check (which reads the store) is made right after each release,
and otherwise at most every :data:`CHECK_EVERY` seconds.  Where ``flock`` is missing
(Windows), the wait is filelock's own polling one, in pieces of that length with the check
between them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Final

from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit import privatefiles as files

__all__ = ["CHECK_EVERY", "WokenLock"]

_CAN_BLOCK: Final = sys.platform != "win32"
#: Seconds between two checks of a wait's ``stop_when`` when no release came between them.
CHECK_EVERY: Final = 0.25


class WokenLock(AbstractContextManager[bool]):
    """A lock on the lock file of ``path`` (:func:`brokerauth.toolkit.privatefiles.lock_path`),
    entered once: ``True`` once held, ``False`` if ``timeout`` seconds passed first (``0``: one
    attempt; negative: wait as long as it takes), or earlier when the check given to
    :meth:`stop_when` says the wait is over.  ``top`` and ``removed_by_logout`` are
    :func:`brokerauth.toolkit.privatefiles.lock`'s.  It is not re-entrant: a second lock on
    the same path in the same process waits like any other."""

    def __init__(self, path: Path, key: TokenKey, timeout: float, *, top: Path | None = None,
                 removed_by_logout: bool = False) -> None:
        self._path = path
        self._lock_file = files.lock_path(path)
        self._key = key
        self._timeout = timeout
        self._top = top
        self._removed_by_logout = removed_by_logout
        self._held: AbstractContextManager[bool] | None = None
        self._stop_when: Callable[[], bool] | None = None

    def __repr__(self) -> str:
        return f"file lock({self._key}, {'held' if self._held is not None else 'not held'})"

    def stop_when(self, check: Callable[[], bool]) -> None:
        """End the wait, entering with ``False``, as soon as ``check()`` (called after each
        wait for the lock) is true: the caller wanted what the holder was doing, not the
        lock.  Call before entering."""
        self._stop_when = check

    def __enter__(self) -> bool:
        if self._held is not None:
            raise RuntimeError("a file lock is entered once")
        if not _CAN_BLOCK:
            return self._polled()
        deadline = None if self._timeout < 0 else time.monotonic() + self._timeout
        first = True
        check_at = 0.0
        while True:
            # Held by another holder (the crowd waiting for one refresh), as a probe of a few
            # system calls tells: the first attempt, which vets the folders and builds a
            # filelock for nothing, is skipped for the wait.  Every later one is made.
            if not (first and _held_elsewhere(self._lock_file)) and self._attempt(0):
                return True
            first = False
            if deadline is None:
                left = files.LOCK_POLL_INTERVAL
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
            released = _wait_for_release(self._lock_file, min(left, files.LOCK_POLL_INTERVAL))
            # Right after a release (another waiter won the lock; the holder's token may be
            # stored), else at most every CHECK_EVERY: each check reads the store.
            if self._stop_when is not None and (released or time.monotonic() >= check_at):
                check_at = time.monotonic() + CHECK_EVERY
                if self._stop_when():
                    return False

    def _polled(self) -> bool:
        """Where ``flock`` is missing: filelock's own polling wait, in pieces of
        :data:`CHECK_EVERY` with the check between them when there is one."""
        if self._stop_when is None or self._timeout <= 0:
            return self._attempt(self._timeout)
        deadline = time.monotonic() + self._timeout
        while True:
            left = deadline - time.monotonic()
            if self._attempt(max(min(left, CHECK_EVERY), 0.0)):
                return True
            if deadline - time.monotonic() <= 0 or self._stop_when():
                return False

    def __exit__(self, *exc: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

    def _attempt(self, timeout: float) -> bool:
        attempt = files.lock(self._path, self._key, timeout, top=self._top,
                             removed_by_logout=self._removed_by_logout)
        if attempt.__enter__():
            self._held = attempt
            return True
        attempt.__exit__(None, None, None)
        return False


class _Probe:
    """The one pending wait for a lock file's release in this process: a helper thread
    blocked in a shared ``flock`` request on ``fd``, and the event it sets once granted."""

    __slots__ = ("fd", "released")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.released = threading.Event()


# Lock file (device, inode) -> its pending probe.  A wait starts a probe only when none is
# pending for that file, else it waits on the pending one's event: however long a holder
# holds (a stopped process, a login waiting for a person's 2FA), a process keeps at most one
# helper thread and one descriptor per lock file, shared by all of its waits.
_probes: dict[tuple[int, int], _Probe] = {}
_probes_guard = threading.Lock()


def _forget_probes_in_child() -> None:
    # The helper threads are the parent's: in a forked child their events never fire, and
    # their descriptors are the child's copies to close.  The guard was held across the fork
    # (see below), so the table and its descriptors agree.
    global _probes_guard
    for probe in _probes.values():
        with suppress(OSError):
            os.close(probe.fd)
    _probes.clear()
    _probes_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=lambda: _probes_guard.acquire(),
                        after_in_parent=lambda: _probes_guard.release(),
                        after_in_child=_forget_probes_in_child)


def _held_elsewhere(where: Path) -> bool:
    """Whether someone holds the lock file ``where`` now: a non-blocking exclusive ``flock``
    on a descriptor of its own, given back at once (closing it).  ``False`` when the lock is
    free, and whenever the probe cannot tell (no file yet, not a regular file, any error):
    the attempt that follows then does, and says what is wrong.  Opened without following a
    link, without blocking (a FIFO), and read-only: nothing is created or changed."""
    import fcntl
    import stat

    try:
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # gives the probe's lock back, if it got it
    return False


def _wait_for_release(where: Path, seconds: float) -> bool:
    """Wait at most ``seconds`` until nobody holds the lock file ``where`` (``True``), by a
    blocking shared ``flock`` request made in a helper thread and given back at once.  The
    request is granted the moment the holder releases or dies; should the wait end first,
    the helper stays blocked until then, holding nothing but a descriptor, and exits.  One
    helper serves every wait of this process on the same lock file (see ``_probes``)."""
    import stat

    try:
        seen = os.stat(where, follow_symlinks=False)
    except OSError:
        return False  # gone meanwhile: the next attempt says what is wrong, if anything
    if not stat.S_ISREG(seen.st_mode):
        return False  # not a lock file (a FIFO would block an open): the attempt refuses it
    which = (seen.st_dev, seen.st_ino)
    with _probes_guard:
        pending = _probes.get(which)
        if pending is None:
            try:
                # O_NONBLOCK: should a FIFO be swapped in since the stat, the open returns
                # rather than block this thread until a writer comes.
                fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                             | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return False  # gone or replaced meanwhile
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != which:
                os.close(fd)
                return False  # replaced meanwhile: the next attempt sees what is there
            pending = _probes[which] = _Probe(fd)
            threading.Thread(target=_probe, args=(which, pending),
                             name="brokerauth-file-lock-wait", daemon=True).start()
    return pending.released.wait(seconds)


def _probe(which: tuple[int, int], probe: _Probe) -> None:
    import fcntl

    try:
        fcntl.flock(probe.fd, fcntl.LOCK_SH)
        fcntl.flock(probe.fd, fcntl.LOCK_UN)
    except OSError:
        pass
    finally:
        with _probes_guard:
            # Out of the table and closed together, so a fork sees both or neither.
            if _probes.get(which) is probe:
                del _probes[which]
            os.close(probe.fd)
        probe.released.set()
