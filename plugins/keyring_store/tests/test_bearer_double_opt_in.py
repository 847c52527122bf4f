"""The test bench's bearer double, the broker of these tests' sessions, is a plugin only where
a test asks for it (the ``bearer_double_installed`` fixture, here through conftest.py): a user
who installs brokerauth-sandbox gets no test broker in ``brokerauth plugins``.  Run in a fresh
interpreter, from an empty folder, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _plugins(tmp_path: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "brokerauth", "plugins"], cwd=tmp_path,
                          env={**env, "BROKERAUTH_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_bench_registers_no_broker_unless_a_test_asks_for_it(tmp_path: Path) -> None:
    import brokerauth_sandbox.bearer as bearer

    user = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    listed = _plugins(tmp_path, user)
    assert "keyring" in listed  # the listing itself works
    assert bearer.BROKER not in listed
    assert "brokerauth-bearer-double" not in listed
    # This module's tests asked for it: processes they start see it too.
    assert str(bearer.INSTALLED) in os.environ["PYTHONPATH"].split(os.pathsep)
    asked = _plugins(tmp_path, dict(os.environ))
    assert bearer.BROKER in asked
    assert "flow:bearer-double-credentials" in asked
