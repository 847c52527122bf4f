"""Many processes, many threads, one token: the harness behind the single-flight tests.

``run_fleet`` spawns processes that each open one session and start threads; all of them are
released at the same moment and each makes one request.  A plugin's test then asserts on the
outcomes and on its sandbox's refresh count (exactly one, however many callers).
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: How an answer is summarised for the parent: the status, or the status and whatever the
#: test's ``describe`` makes of the answer (an account id proving whose token was used).
Describe = Callable[[Any], str]


def _status(response: Any) -> str:
    return str(response.status)


def _worker(profile: Any, user: str | None, env: Mapping[str, str], method: str, path: str,
            describe: Describe, go_file: str, threads: int, ready: Any, results: Any) -> None:
    os.environ.update(env)
    import brokerauth

    session = brokerauth.session(profile, user=user)
    outcomes: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        while not Path(go_file).exists():
            time.sleep(0.002)
        try:
            outcome = describe(session.request(method, path))
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.put(os.getpid())
    for worker in workers:
        worker.join()
    session.close()
    results.put(outcomes)


def run_fleet(
    profile: Any,
    *,
    path: str,
    processes: int,
    threads: int,
    method: str = "GET",
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    describe: Describe = _status,
    timeout: float = 120.0,
) -> list[str]:
    """Every caller's outcome (``"200"``, or an error's name and message), in no order.

    ``env`` is set in each child before brokerauth is imported (``BROKERAUTH_HOME`` and the
    like); ``profile`` and ``describe`` must be picklable (module-level functions).
    """
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    with tempfile.TemporaryDirectory(prefix="brokerauth-fleet-") as folder:
        go = Path(folder) / "go"
        children = [
            context.Process(target=_worker, args=(profile, user, dict(env or {}), method, path,
                                                  describe, str(go), threads, ready, results))
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        try:
            for _ in children:
                ready.get(timeout=timeout)
            go.touch()
            outcomes = [o for _ in children for o in results.get(timeout=timeout)]
        finally:
            for child in children:
                child.join(timeout=30)
                if child.is_alive():
                    child.kill()
    return outcomes
