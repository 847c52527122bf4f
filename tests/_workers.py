"""Code run in child processes by the multi-process tests (imported by name after spawn)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any


def hammer(profile: Any, home: str, go_file: str, threads: int, ready: Any, results: Any) -> None:
    """Open one session, start ``threads`` threads that wait for ``go_file``, then each make one
    authenticated GET; put the statuses (or error names) on ``results``."""
    os.environ["BROKERAUTH_HOME"] = home
    import brokerauth

    session = brokerauth.session(profile)
    statuses: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while not Path(go_file).exists():
            time.sleep(0.002)
        try:
            outcome = str(session.get("/api/me").status)
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            statuses.append(outcome)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.put(os.getpid())
    for worker in workers:
        worker.join()
    results.put(statuses)


def refresh_forever(profile: Any, home: str) -> None:
    """Start a refresh (the sandbox holds it open) while holding the store's lock."""
    os.environ["BROKERAUTH_HOME"] = home
    import brokerauth

    brokerauth.session(profile).get("/api/me")
