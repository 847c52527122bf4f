"""A memory of values a server accepts once only (signature nonces), for emulators.

Each value is kept until a time its caller names: past it, a replay would fail another check
anyway (a timestamp window), so the memory stays as small as the traffic of that time.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

__all__ = ["NonceLedger"]


class NonceLedger:
    """Values seen, each until its own deadline (server time, seconds); thread-safe."""

    #: Forgetting expired values runs at most this often (server seconds).
    purge_every: float = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[Hashable, float] = {}
        self._next_purge = 0.0

    def __repr__(self) -> str:
        # The values may be a client's nonces: the count only.
        return f"<NonceLedger {len(self._kept)} kept>"

    def first_use(self, value: Hashable, now: float, *, keep_until: float) -> bool:
        """Record ``value`` until ``keep_until``; ``False`` if it is already recorded."""
        with self._lock:
            if now >= self._next_purge:
                self._kept = {k: t for k, t in self._kept.items() if t > now}
                self._next_purge = now + self.purge_every
            if value in self._kept:
                return False
            self._kept[value] = keep_until
        return True
