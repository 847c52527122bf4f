"""Code run in child processes by the multi-process test (imported by name after spawn; a
uniquely named module, since the test folders of several plugins share one namespace)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any


def hammer(profile: Any, user: str, home: str, go_file: str, threads: int, ready: Any,
           results: Any) -> None:
    """Open one session for ``user``, start ``threads`` threads that wait for ``go_file``,
    then each make one API call; put the statuses (or error names) on ``results``."""
    os.environ["BROKERAUTH_HOME"] = home
    import brokerauth

    session = brokerauth.session(profile, user=user)
    outcomes: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while not Path(go_file).exists():
            time.sleep(0.002)
        try:
            response = session.get("/oauth-openapi/account/list")
            outcome = f"{response.status} {response.json()[0]['account_id']}"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready.put(os.getpid())
    for worker in workers:
        worker.join()
    session.close()
    results.put(outcomes)
