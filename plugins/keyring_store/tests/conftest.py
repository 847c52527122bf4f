"""The keyring store's tests run against a real Secret Service: the test bench's
``secret_service`` (a private D-Bus session bus and Debian's gnome-keyring-daemon), its
variables in the environment of each test (``secret_service_env``) and of every process the
test starts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.tokens import TokenKey
from brokerauth_keyring.options import KeyringStoreOptions
from brokerauth_keyring.plugin import KeyringPlugin


@pytest.fixture(scope="module", autouse=True)
def double_installed(bearer_double_installed: None) -> None:
    """The test bench's bearer double (brokerauth_sandbox.bearer), the broker of these tests'
    sessions, is an installed plugin while a module of these tests runs, in this process and
    in every process it starts, and in no one else's tests."""


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
def double(bearer_double: Any) -> Any:
    """A started sandbox of the bearer double on the test's manual clock."""
    return bearer_double
