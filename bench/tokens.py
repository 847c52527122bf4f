"""Token access under contention: 64 threads reading a fresh token from one session's
``TokenManager.current()``, against 64 threads reading a plain attribute.

First, untimed, the manager's thread lock and the store's cross-process lock are replaced by
counting stand-ins, every thread reads, and the counts must stay at zero: the fast path takes
no lock.  Then the real objects are timed.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Report

THREADS = 64


class CountingLock:
    """Stands in for a lock and counts every use."""

    def __init__(self) -> None:
        self.uses = 0

    def acquire(self, *args: object, **kwargs: object) -> bool:
        self.uses += 1
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> bool:
        self.uses += 1
        return True

    def __exit__(self, *exc: object) -> None:
        pass


def _rate(make_loop: Callable[[int], Callable[[], None]], reads: int) -> float:
    """Reads per second, all threads together."""
    barrier = threading.Barrier(THREADS + 1)
    loop = make_loop(reads)

    def work() -> None:
        barrier.wait()
        loop()

    workers = [threading.Thread(target=work) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return THREADS * reads / (time.perf_counter() - start)


def run(report: Report, session: Callable[..., Any], profiles: Path, quick: bool) -> None:
    print(f"\n== Token access under contention: {THREADS} threads reading a fresh token",
          flush=True)
    api = session("bench-session", profiles=profiles)
    manager = api.tokens
    token = manager.current()
    assert token is not None, "the benchmark profile has no stored token"

    # Untimed proof: no lock on the fast path.
    thread_lock, store_locks = CountingLock(), CountingLock()
    real_lock, real_store_lock = manager._lock, api.binding.lock
    manager._lock = thread_lock
    api.binding.lock = lambda timeout: store_locks
    try:
        def check() -> None:
            for _ in range(2000):
                assert manager.current() is token

        workers = [threading.Thread(target=check) for _ in range(THREADS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        manager._lock = real_lock
        api.binding.lock = real_store_lock
    assert thread_lock.uses == 0, "the thread lock was taken on the fast path"
    assert store_locks.uses == 0, "the store's lock was taken on the fast path"
    print(f"  {THREADS} × 2,000 reads with counting locks: 0 thread-lock and 0 store-lock uses")

    class Holder:
        def __init__(self) -> None:
            self.token = token

    holder = Holder()

    def plain(reads: int) -> Callable[[], None]:
        def loop() -> None:
            for _ in range(reads):
                holder.token  # noqa: B018 - the read being measured

        return loop

    def ours(reads: int) -> Callable[[], None]:
        current = manager.current

        def loop() -> None:
            for _ in range(reads):
                current()

        return loop

    reads = 10_000 if quick else 30_000
    samples: dict[str, list[float]] = {"plain": [], "brokerauth": []}
    _rate(ours, 1000)
    for _ in range(5):
        samples["plain"].append(_rate(plain, reads * 5))
        samples["brokerauth"].append(_rate(ours, reads))
    plain_rate = statistics.median(samples["plain"])
    our_rate = statistics.median(samples["brokerauth"])
    print(f"  plain attribute read: {plain_rate:,.0f} reads/s; "
          f"TokenManager.current(): {our_rate:,.0f} reads/s")
    report.add(f"token access, {THREADS} threads reading a fresh token (no lock taken)",
               f"{our_rate / 1e6:.2f}M reads/s", f"plain attribute {plain_rate / 1e6:.1f}M reads/s",
               plain_rate / our_rate, "≥ 1M reads/s total, no lock", our_rate >= 1e6)
    api.close()
