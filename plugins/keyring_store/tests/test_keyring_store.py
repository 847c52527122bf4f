"""The keyring store against a real Secret Service (gnome-keyring on a private D-Bus bus):
round trip, logout, names that cannot collide, listing, the refused back ends, a locked or
absent keyring."""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import weakref
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth_keyring.options import KeyringStoreOptions
from brokerauth_keyring.plugin import KeyringPlugin
from brokerauth_keyring.store import item_name
from keyring_helpers import make_token


def secret_tool(*arguments: str, given: str | None = None) -> subprocess.CompletedProcess[str]:
    """libsecret's own client, on the bus of the environment: a second opinion on what the
    Secret Service holds, independent of the keyring library."""
    program = shutil.which("secret-tool")
    if program is None:
        pytest.fail("secret-tool is missing: apt-get install libsecret-tools", pytrace=False)
    return subprocess.run(
        [program, *arguments], input=given, capture_output=True, text=True, timeout=30,
        check=False)


def test_a_token_round_trips_through_the_secret_service(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey
) -> None:
    assert plugin.load_token("keyring", key, options) is None
    token = make_token("first")
    plugin.store_token("keyring", key, token, options)
    assert plugin.load_token("keyring", key, options) == token
    assert KeyringPlugin().load_token("keyring", key, options) == token, "a new process's view"
    # It is the Secret Service's item, under the names the README promises.
    found = secret_tool("lookup", "service", options.service, "username", '["platform","default"]')
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["access_token"] == token.access_token
    newer = make_token("second")
    plugin.store_token("keyring", key, newer, options)
    assert plugin.load_token("keyring", key, options) == newer


def test_logout_removes_the_item(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("keyring", key, make_token(), options)
    assert plugin.delete_token("keyring", key, options) is True
    assert plugin.load_token("keyring", key, options) is None
    assert secret_tool("lookup", "service", options.service, "username",
                       item_name(key)).returncode != 0
    assert plugin.delete_token("keyring", key, options) is False


def test_logout_leaves_no_token_in_the_decoders_memory(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("keyring", key, make_token(), options)
    token = plugin.load_token("keyring", key, options)
    assert token is not None
    assert plugin.load_token("keyring", key, options) is token  # remembered, not parsed again
    gone = weakref.ref(token)
    del token
    assert plugin.delete_token("keyring", key, options) is True
    gc.collect()
    assert gone() is None


def test_logout_removes_copies_made_by_hand(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("keyring", key, make_token(), options)
    # A second item with the same attributes (secret-tool adds one with other attributes
    # replaced only when all match: here an extra attribute keeps both).
    made = secret_tool("store", "--label=copy", "service", options.service,
                       "username", item_name(key), "note", "copy", given="{}")
    assert made.returncode == 0, made.stderr
    assert plugin.delete_token("keyring", key, options) is True
    assert secret_tool("lookup", "service", options.service, "username",
                       item_name(key)).returncode != 0


@pytest.mark.parametrize(("one", "other"), [
    (TokenKey("a/b", "c"), TokenKey("a", "b/c")),
    (TokenKey("p", 'x","y'), TokenKey('p","x', "y")),
    (TokenKey("p", "Alice"), TokenKey("p", "alice")),
    (TokenKey("p", "back\\slash"), TokenKey("p", "back\\\\slash")),
    (TokenKey("p", "é"), TokenKey("p", "e\u0301")),
])
def test_distinct_keys_keep_distinct_items(
    plugin: KeyringPlugin, options: KeyringStoreOptions, one: TokenKey, other: TokenKey
) -> None:
    first, second = make_token("one"), make_token("other")
    plugin.store_token("keyring", one, first, options)
    plugin.store_token("keyring", other, second, options)
    assert plugin.load_token("keyring", one, options) == first
    assert plugin.load_token("keyring", other, options) == second
    assert plugin.delete_token("keyring", one, options) is True
    assert plugin.load_token("keyring", other, options) == second


def test_services_keep_separate_tokens(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey
) -> None:
    elsewhere = KeyringStoreOptions(service=options.service + "-other")
    token = make_token()
    plugin.store_token("keyring", key, token, options)
    assert plugin.load_token("keyring", key, elsewhere) is None
    assert plugin.delete_token("keyring", key, elsewhere) is False
    assert plugin.load_token("keyring", key, options) == token


def test_listing_gives_each_identity_of_the_profile_once(
    plugin: KeyringPlugin, options: KeyringStoreOptions
) -> None:
    for identity in ("alice", "Bob", "a/b", 'q"uote'):
        plugin.store_token("keyring", TokenKey("trading", identity), make_token(), options)
    plugin.store_token("keyring", TokenKey("other", "carol"), make_token(), options)
    plugin.store_token("keyring", TokenKey("trading", "dave"), make_token(),
                       KeyringStoreOptions(service=options.service + "-other"))
    # Items that are nobody's token: another name form, and another program's item.
    for stray in ('["trading"]', "trading/eve", '["trading", "spaced"]'):
        assert secret_tool("store", "--label=stray", "service", options.service,
                           "username", stray, given="x").returncode == 0
    listed = list(plugin.list_tokens("keyring", "trading", options) or ())
    assert sorted(key.identity for key in listed) == sorted(["alice", "Bob", "a/b", 'q"uote'])
    assert all(key.profile == "trading" for key in listed)
    plugin.delete_token("keyring", TokenKey("trading", "alice"), options)
    assert "alice" not in {key.identity for key in plugin.list_tokens("keyring", "trading",
                                                                        options) or ()}


def test_an_item_that_is_not_a_token_is_reported_not_used(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey
) -> None:
    assert secret_tool("store", "--label=bad", "service", options.service, "username",
                       item_name(key), given="not json").returncode == 0
    with pytest.raises(CorruptStoreError, match="brokerauth logout platform"):
        plugin.load_token("keyring", key, options)
    assert key in list(plugin.list_tokens("keyring", "platform", options) or ())
    assert plugin.delete_token("keyring", key, options) is True


# -- back ends that are refused -------------------------------------------------------------


def _no_clear_copy(keyring_env: Any, token: str) -> None:
    data = Path(keyring_env.environ["XDG_DATA_HOME"])
    assert not (data / "python_keyring").exists(), "keyrings.alt wrote its file"
    for path in keyring_env.folder.rglob("*"):
        if path.is_file() and not path.is_socket():
            assert token.encode() not in path.read_bytes(), f"{path} holds the token in clear"


@pytest.mark.parametrize("backend", [
    "keyrings.alt.file.PlaintextKeyring",
    "keyring.backends.fail.Keyring",
    "keyring.backends.null.Keyring",
    "keyring.backends.chainer.ChainerBackend",
])
def test_a_plaintext_or_null_back_end_in_the_environment_is_refused(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey, keyring_env: Any,
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    token = make_token()
    for call in (lambda: plugin.store_token("keyring", key, token, options),
                 lambda: plugin.load_token("keyring", key, options)):
        with pytest.raises(StoreError) as refused:
            call()
        assert backend in refused.value.message
        assert "$PYTHON_KEYRING_BACKEND" in refused.value.message
        assert "no token was read or written" in refused.value.message
    _no_clear_copy(keyring_env, token.access_token)


def test_a_plaintext_back_end_is_refused_even_when_named(
    plugin: KeyringPlugin, key: TokenKey, keyring_env: Any, service_name: str
) -> None:
    named = KeyringStoreOptions(service=service_name,
                                backend="keyrings.alt.file.PlaintextKeyring")
    token = make_token()
    with pytest.raises(StoreError, match="keeps secrets in a file"):
        plugin.store_token("keyring", key, token, named)
    _no_clear_copy(keyring_env, token.access_token)


def test_an_unknown_back_end_is_refused_unless_named(
    plugin: KeyringPlugin, key: TokenKey, keyring_env: Any, service_name: str,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring_double.MemoryKeyring")
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    options = KeyringStoreOptions(service=service_name)
    with pytest.raises(StoreError, match="does not know it"):
        plugin.load_token("keyring", key, options)
    trusted = KeyringStoreOptions(service=service_name, backend="keyring_double.MemoryKeyring")
    token = make_token()
    plugin.store_token("keyring", key, token, trusted)
    assert plugin.load_token("keyring", key, trusted) == token


def test_without_a_secret_service_the_plaintext_fallback_is_refused(
    key: TokenKey, keyring_env: Any, service_name: str
) -> None:
    # keyrings.alt is installed (the test extra), so keyring itself would fall back to its
    # plaintext file when no Secret Service answers.
    keyring_env.stop_keyring()
    token = make_token()
    with pytest.raises(StoreError) as refused:
        KeyringPlugin().store_token("keyring", key, token,
                                    KeyringStoreOptions(service=service_name))
    assert "keyrings.alt.file.PlaintextKeyring" in refused.value.message
    assert "chosen by keyring for this platform" in refused.value.message
    assert "Secret Service is not usable" in (refused.value.hint or "")
    _no_clear_copy(keyring_env, token.access_token)


# -- a locked or absent keyring -----------------------------------------------------------------


def test_a_locked_keyring_gives_a_clear_error_and_keeps_the_token(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey, keyring_env: Any
) -> None:
    token = make_token()
    plugin.store_token("keyring", key, token, options)
    keyring_env.lock()
    for call in (lambda: plugin.load_token("keyring", key, options),
                 lambda: plugin.store_token("keyring", key, make_token("new"), options),
                 lambda: plugin.delete_token("keyring", key, options),
                 lambda: plugin.list_tokens("keyring", "platform", options)):
        with pytest.raises(StoreError, match="the keyring is locked") as locked:
            call()
        assert "unlock it" in (locked.value.hint or "")
        assert "platform/default" in locked.value.message or (
            "tokens of profile platform in" in locked.value.message)
    keyring_env.unlock()
    assert plugin.load_token("keyring", key, options) == token


def test_an_absent_secret_service_gives_a_clear_error(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey, keyring_env: Any
) -> None:
    token = make_token()
    plugin.store_token("keyring", key, token, options)
    keyring_env.stop_keyring()
    with pytest.raises(StoreError, match="cannot be reached") as absent:
        plugin.load_token("keyring", key, options)
    assert "DBUS_SESSION_BUS_ADDRESS" in (absent.value.hint or "")
    keyring_env.start_keyring()
    assert plugin.load_token("keyring", key, options) == token


@pytest.mark.parametrize("named_by", ["$PYTHON_KEYRING_BACKEND", "the backend option"])
def test_a_secret_service_named_and_down_is_said_to_be_unreachable(
    key: TokenKey, keyring_env: Any, service_name: str, monkeypatch: pytest.MonkeyPatch,
    named_by: str
) -> None:
    from brokerauth.toolkit.keyring_backends import SECRET_SERVICE

    if named_by == "$PYTHON_KEYRING_BACKEND":
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", SECRET_SERVICE)
        options = KeyringStoreOptions(service=service_name)
    else:
        options = KeyringStoreOptions(service=service_name, backend=SECRET_SERVICE)
    keyring_env.stop_keyring()
    token = make_token()
    # A new plugin: the back end is chosen on first use, now, with the daemon down.
    with pytest.raises(StoreError) as down:
        KeyringPlugin().store_token("keyring", key, token, options)
    message, hint = down.value.message, down.value.hint or ""
    assert f"the Secret Service, which {named_by} names as the keyring back end " \
           f"({SECRET_SERVICE}), is not reachable" in message
    assert "no Secret Service daemon is running on the D-Bus session bus" in message
    assert "cannot be loaded" not in message
    assert "install the package" not in hint
    assert "gnome-keyring-daemon --start --components=secrets" in hint
    keyring_env.start_keyring()
    assert KeyringPlugin().load_token("keyring", key, options) is None  # nothing was written


def test_no_bus_at_all_gives_a_clear_error(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey, keyring_env: Any,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plugin.store_token("keyring", key, make_token(), options)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(StoreError, match="cannot be reached"):
        plugin.load_token("keyring", key, options)


def test_reprs_and_messages_hold_no_token(
    plugin: KeyringPlugin, options: KeyringStoreOptions, key: TokenKey, keyring_env: Any
) -> None:
    token = make_token()
    plugin.store_token("keyring", key, token, options)
    store = plugin.store_for(options)
    assert token.access_token not in repr(store)
    assert token.access_token not in repr(plugin)
    assert "SecretService" in repr(store)
    keyring_env.lock()
    with pytest.raises(StoreError) as locked:
        plugin.store_token("keyring", key, make_token(), options)
    assert token.access_token not in str(locked.value)
    assert os.environ["DBUS_SESSION_BUS_ADDRESS"] == keyring_env.environ[
        "DBUS_SESSION_BUS_ADDRESS"]
