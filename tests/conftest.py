from __future__ import annotations

from typing import Any

import pytest
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.clock import ManualClock


@pytest.fixture
def acme(sandbox_factory: Any, manual_clock: ManualClock) -> Any:
    """A started Acme sandbox on the test's manual clock."""
    return sandbox_factory("acme", clock=manual_clock)


@pytest.fixture
def acme_session(acme: Any, session_factory: Any) -> Session:
    return session_factory(acme)

pytest_plugins = ["pytester"]
