"""Code run in child processes by the multi-process test (imported by name after spawn)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any


def hammer(profile: Any, token_dir: str, go_file: str, threads: int, ready: Any,
           results: Any) -> None:
    """One session, ``threads`` threads waiting for ``go_file``, then one GET each; the
    statuses (or error names) go on ``results``."""
    os.environ["FUTU_TOKEN_DIR"] = token_dir
    import brokerauth

    session = brokerauth.session(profile)
    statuses: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while not Path(go_file).exists():
            time.sleep(0.002)
        try:
            outcome = str(session.get("/v1/quote/snapshot").status)
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
    session.close()
    results.put(statuses)
