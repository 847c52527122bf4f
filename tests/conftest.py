from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.engine.sessions import Session
from brokerauth_sandbox.clock import ManualClock

pytest_plugins = ["pytester"]

TESTS = Path(__file__).resolve().parent
#: The test double's metadata, as pip would have installed it (see tests/doubles).
DOUBLE_INSTALLED = TESTS / "doubles" / "installed"


@pytest.fixture(scope="module", autouse=True)
def double_installed() -> Iterator[None]:
    """The test double is an installed plugin while a module of the core's tests runs, in this
    process and in every process it starts (command lines, spawned fleets), and in no one
    else's tests."""
    path = [str(DOUBLE_INSTALLED), str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(DOUBLE_INSTALLED))
        patch.setenv("PYTHONPATH", os.pathsep.join(path))
        yield


@pytest.fixture
def double(sandbox_factory: Any, manual_clock: ManualClock) -> Any:
    """A started sandbox of the test double on the test's manual clock."""
    return sandbox_factory("double", clock=manual_clock)


@pytest.fixture
def double_session(double: Any, session_factory: Any) -> Session:
    return session_factory(double)
