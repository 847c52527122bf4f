"""The keyring store's tests run against a real Secret Service: the test bench's
``secret_service`` (a private D-Bus session bus and Debian's gnome-keyring-daemon), its
variables in the environment of each test (``secret_service_env``) and of every process the
test starts."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth_keyring.options import KeyringStoreOptions
from brokerauth_keyring.plugin import KeyringPlugin
from brokerauth_sandbox.clock import ManualClock

TESTS = Path(__file__).resolve().parent
#: The Redis store's tests keep a small broker double (client credentials, rotating refresh
#: tokens, a count of refreshes) that needs only the core and the test bench; these tests
#: use the same one rather than a second copy.
DOUBLE_HOME = TESTS.parents[1] / "redis_store" / "tests"
DOUBLE_INSTALLED = DOUBLE_HOME / "bearer_double" / "installed"


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
def keyring_env(secret_service_env: Any, token_home: Path,
                monkeypatch: pytest.MonkeyPatch) -> Any:
    """The Secret Service reachable (and only it: no back end named by the environment), the
    brokerauth folder private to the test; yields the service."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    return secret_service_env


@pytest.fixture
def service_name() -> str:
    """A keyring service of the test's own: tests share one keyring."""
    return f"brokerauth-test-{secrets.token_hex(4)}"


@pytest.fixture
def options(keyring_env: Any, service_name: str) -> KeyringStoreOptions:
    return KeyringStoreOptions(service=service_name)


@pytest.fixture
def plugin() -> KeyringPlugin:
    return KeyringPlugin()


@pytest.fixture
def key() -> TokenKey:
    return TokenKey("platform", "default")


@pytest.fixture
def double(sandbox_factory: Any, manual_clock: ManualClock) -> Any:
    """A started sandbox of the bearer double on the test's manual clock."""
    return sandbox_factory("bearer_double", clock=manual_clock)
