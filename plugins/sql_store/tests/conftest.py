from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth_sandbox.canary import token_stores
from brokerauth_sandbox.clock import ManualClock
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from cryptography.fernet import Fernet

TESTS = Path(__file__).resolve().parent
#: The Redis store's tests keep a small broker double (client credentials, rotating refresh
#: tokens, a count of refreshes) that needs only the core and the test bench; these tests
#: use the same one rather than a second copy.
DOUBLE_HOME = TESTS.parents[1] / "redis_store" / "tests"
DOUBLE_INSTALLED = DOUBLE_HOME / "bearer_double" / "installed"
#: The tests' databases (see the ``database`` fixture) hold tokens on purpose.
DATABASE = "tokens.db"
token_stores(files=(DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm"))


@pytest.fixture(scope="module", autouse=True)
def double_installed() -> Iterator[None]:
    """The bearer double is an installed plugin while a module of these tests runs, in this
    process and in every process it starts, and in no one else's tests."""
    path = [str(DOUBLE_INSTALLED), str(DOUBLE_HOME), str(TESTS),
            *filter(None, [os.environ.get("PYTHONPATH")])]
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(DOUBLE_HOME))
        patch.syspath_prepend(str(DOUBLE_INSTALLED))
        patch.setenv("PYTHONPATH", os.pathsep.join(path))
        yield


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """Where the test's database goes (the folder does not exist yet)."""
    return tmp_path / "state" / DATABASE


@pytest.fixture
def options(database: Path) -> SqlStoreOptions:
    return SqlStoreOptions(url=f"sqlite://{database}")


@pytest.fixture
def plugin() -> Iterator[SqlPlugin]:
    made = SqlPlugin()
    yield made
    made.close()


@pytest.fixture
def key() -> TokenKey:
    return TokenKey("platform", "default")


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Fernet key in $BROKERAUTH_TEST_SQL_KEY (inherited by spawned processes)."""
    value = Fernet.generate_key().decode()
    monkeypatch.setenv("BROKERAUTH_TEST_SQL_KEY", value)
    return value


@pytest.fixture
def double(sandbox_factory: Any, manual_clock: ManualClock) -> Any:
    """A started sandbox of the bearer double on the test's manual clock."""
    return sandbox_factory("bearer_double", clock=manual_clock)
