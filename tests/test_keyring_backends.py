"""The one rule for keyring back ends (:mod:`brokerauth.toolkit.keyring_backends`), seen from
the file store's ``encryption_key = "keyring"`` and over the real Secret Service of the test
bench: an unknown back end is not trusted with the key, and a locked collection leaves no
D-Bus connection open."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit import keyring_backends, keyring_key

_MEMORY_BACKEND = '''
from keyring.backend import KeyringBackend

KEPT = {}


class MemoryKeyring(KeyringBackend):
    # Named only: keyring's discovery (every subclass, for the rest of the session) finds
    # it, and brokerauth's never picks a back end of priority 0.
    priority = 0

    def get_password(self, service, username):
        return KEPT.get((service, username))

    def set_password(self, service, username, password):
        KEPT[(service, username)] = password

    def delete_password(self, service, username):
        KEPT.pop((service, username), None)
'''


@pytest.fixture
def memory_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A back end keyring does not ship, importable as ``brokerauth_memory_keyring``."""
    import importlib

    (tmp_path / "brokerauth_memory_keyring.py").write_text(_MEMORY_BACKEND)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("brokerauth_memory_keyring")
    yield module
    sys.modules.pop("brokerauth_memory_keyring", None)


def test_the_file_key_is_not_kept_in_a_back_end_brokerauth_does_not_know(
    memory_backend: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "brokerauth_memory_keyring.MemoryKeyring")
    options = FileStoreOptions(path=str(tmp_path / "tokens"), encryption_key="keyring")
    with pytest.raises(StoreError) as refused:
        filestore.save(TokenKey("p"), Token(access_token="a", broker="b"), options)
    message = refused.value.message
    assert "no OS keyring is available" in message
    assert "brokerauth_memory_keyring.MemoryKeyring ($PYTHON_KEYRING_BACKEND)" in message
    assert "not one of keyring's OS keyrings" in message
    assert "remove it from $PYTHON_KEYRING_BACKEND" in (refused.value.hint or "")
    assert memory_backend.KEPT == {}  # no key made there
    assert not (tmp_path / "tokens" / "p").exists()


@pytest.mark.parametrize("backend", ["keyring.backends.chainer.ChainerBackend",
                                     "keyring.backends.null.Keyring"])
def test_the_file_key_refuses_the_chainer_and_the_null_back_end_when_configured(
    secret_service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    options = FileStoreOptions(path=str(tmp_path / "tokens"), encryption_key="keyring")
    with pytest.raises(StoreError, match="is refused") as refused:
        keyring_key.read_key("the file store's encryption_key")
    assert backend in refused.value.message
    with pytest.raises(StoreError, match="is refused"):
        filestore.save(TokenKey("p"), Token(access_token="a", broker="b"), options)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_locked_collection_leaves_no_d_bus_connection_open(
    secret_service_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.errors import KeyringLocked

    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    backend, origin = keyring_backends.find_backend("the test")
    assert keyring_backends.backend_name(backend) == keyring_backends.SECRET_SERVICE
    assert origin == keyring_backends.DISCOVERED
    assert backend.get_password("brokerauth-test", "nobody") is None  # reachable, unlocked
    secret_service_env.lock()
    gc.collect()
    before = _open_descriptors()
    gc.disable()  # a leaked connection would otherwise wait for the collector, unseen
    try:
        for _ in range(10):
            with pytest.raises(KeyringLocked):
                backend.get_password("brokerauth-test", "nobody")
        assert _open_descriptors() == before
    finally:
        gc.enable()
        secret_service_env.unlock()


@pytest.mark.parametrize("outage", ["keyring daemon", "session bus"])
def test_a_secret_service_named_in_the_environment_and_down_is_said_to_be_unreachable(
    secret_service_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outage: str
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", keyring_backends.SECRET_SERVICE)
    # Reachable before the outage: the setting itself is right.
    assert keyring_backends.find_backend("the test")[1] == "$PYTHON_KEYRING_BACKEND"
    if outage == "keyring daemon":
        secret_service_env.stop_keyring()
        why = "no Secret Service daemon is running on the D-Bus session bus"
    else:
        secret_service_env.stop()
        why = "the D-Bus session bus of DBUS_SESSION_BUS_ADDRESS does not answer"
    options = FileStoreOptions(path=str(tmp_path / "tokens"), encryption_key="keyring")
    calls: list[Callable[[], object]] = [
        lambda: keyring_key.read_key("the file store's encryption_key"),
        lambda: filestore.save(TokenKey("p"), Token(access_token="a", broker="b"), options)]
    for call in calls:
        with pytest.raises(StoreError) as down:
            call()
        message, hint = down.value.message, down.value.hint or ""
        assert "the Secret Service" in message and "is not reachable" in message
        assert f"$PYTHON_KEYRING_BACKEND names as the keyring back end " \
               f"({keyring_backends.SECRET_SERVICE})" in message
        assert why in message
        # Not the setting's fault: nothing to "fix or remove".
        assert "cannot be loaded" not in message and "fix or remove" not in hint
        assert "gnome-keyring-daemon --start --components=secrets" in hint
        assert "DBUS_SESSION_BUS_ADDRESS" in hint and "dbus-run-session" in hint
    assert not (tmp_path / "tokens" / "p").exists()


def test_a_misspelled_back_end_in_the_environment_is_still_a_setting_to_fix(
    secret_service_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyrnig")
    with pytest.raises(StoreError, match="cannot be loaded") as wrong:
        keyring_key.read_key("the file store's encryption_key")
    assert "keyring.backends.SecretService.Keyrnig named by $PYTHON_KEYRING_BACKEND" in (
        wrong.value.message)
    assert "not reachable" not in wrong.value.message
    assert wrong.value.hint == "fix or remove that setting"
