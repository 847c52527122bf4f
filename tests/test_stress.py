"""Long soak variants of the reliability tests (``make test-stress``; not in ``make test``)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from test_filestore import KEY, WRITER

pytestmark = pytest.mark.stress


@pytest.mark.parametrize("run", range(25))
def test_kill_9_at_random_points_never_tears_a_token(tmp_path: Path, run: int) -> None:
    store = tmp_path / "tokens"
    stop_after = random.Random(run).randrange(1, 990)
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(store)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    written = 0
    try:
        while written < stop_after:
            line = child.stdout.readline()
            if not line:
                break
            written = int(line)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    token = filestore.load(KEY, FileStoreOptions(path=str(store)))
    assert token is not None
    n = int(token.extra["n"])
    assert token.refresh_token == f"refresh-{n:04d}"


@pytest.mark.parametrize("processes", [8])
def test_8_processes_x_16_threads_share_one_refresh(sandbox_factory: Any, token_home: Path,
                                                    processes: int) -> None:
    import brokerauth
    from brokerauth.contract.clock import SystemClock
    from brokerauth.engine.profiles import Profile
    from brokerauth_sandbox.fleet import run_fleet

    double = sandbox_factory("double", clock=SystemClock())
    double.refresh_delay = 0.2
    profile = Profile.from_mapping("soak", {"broker": "double", **double.profile_settings()})
    first = brokerauth.session(profile)
    token = first.token
    first.binding.save(token.replace(expires_at=token.issued_at))
    double.expire_access_tokens()
    statuses = run_fleet(profile, path="/api/me", processes=processes, threads=16,
                         env={"BROKERAUTH_HOME": str(token_home)})
    assert statuses == ["200"] * (processes * 16)
    assert double.refresh_calls == 1
    assert double.invalid_grants == 0
