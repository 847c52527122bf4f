"""The file store's ``encryption_key``: token files sealed with a Fernet key from a secret
reference (rotated by listing several) or from the OS keyring, bound to their profile and
identity; real files in tmp folders, real sessions against the test double over loopback, a
real Secret Service (private D-Bus bus, gnome-keyring-daemon) for ``"keyring"``, and real
child processes where a fresh interpreter matters (imports, keyring backend choice)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from brokerauth.builtin import filestore
from brokerauth.builtin.filestore import FileStoreOptions
from brokerauth.contract.errors import (
    ConfigError,
    CorruptStoreError,
    SecretUnavailableError,
    StoreError,
)
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.engine.profiles import Profile
from brokerauth.toolkit import keyring_key
from brokerauth.toolkit.envelope import ENCRYPTED_MARK, ForgedEntryError
from brokerauth.toolkit.secrets import Secret
from brokerauth_sandbox.fleet import run_fleet
from cryptography.fernet import Fernet, InvalidToken

KEY_VARIABLE = "BROKERAUTH_FILE_KEY"
ENV_STORE = {"name": "file", "encryption_key": {"env": KEY_VARIABLE}}
KEYRING_STORE = {"name": "file", "encryption_key": "keyring"}
PROFILE = "test"


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def logins(double: Any) -> int:
    """Token requests that were not refreshes: logins."""
    return int(double.calls[("POST", "/oauth/token")]) - int(double.refresh_calls)


def token_file(home: Path, identity: str = "default", profile: str = PROFILE) -> Path:
    return filestore.token_path(TokenKey(profile, identity), FileStoreOptions(
        path=str(home / "tokens")))


def only_token_file(home: Path) -> Path:
    # Not the token-endpoint budget's file (``@budget-...``), which holds call times only.
    found = sorted(p for p in (home / "tokens" / PROFILE).glob("*.json")
                   if not p.name.startswith("@"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def file_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = new_key()
    monkeypatch.setenv(KEY_VARIABLE, key)
    return key


def encrypted_session(double: Any, session_factory: Any, **keys: Any) -> Any:
    return session_factory(double, store=ENV_STORE, **keys)


# -- with a key from a secret reference -----------------------------------------------------
def test_round_trip_keeps_no_token_text_in_the_file(
    double: Any, session_factory: Any, token_home: Path, file_key: str
) -> None:
    first = encrypted_session(double, session_factory)
    assert first.get("/api/me").ok
    token = first.token
    assert token is not None and token.refresh_token is not None
    data = only_token_file(token_home).read_bytes()
    assert data.startswith(ENCRYPTED_MARK)
    for text in (token.access_token, token.refresh_token, double.client_secret, file_key):
        assert text.encode() not in data
    assert b"access_token" not in data and b"Bearer" not in data

    second = encrypted_session(double, session_factory)
    assert second.get("/api/me").ok
    assert second.token == token
    assert logins(double) == 1  # read back from the sealed file, not logged in again


def test_keys_rotate_without_a_login(
    double: Any, session_factory: Any, token_home: Path, manual_clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = new_key(), new_key()
    monkeypatch.setenv(KEY_VARIABLE, old)
    assert encrypted_session(double, session_factory).get("/api/me").ok
    path = only_token_file(token_home)
    Fernet(old).decrypt(path.read_bytes()[len(ENCRYPTED_MARK):])

    # The new key first: it encrypts, the old one still decrypts.
    monkeypatch.setenv(KEY_VARIABLE, f"{new}, {old}")
    rotated = encrypted_session(double, session_factory)
    assert rotated.get("/api/me").ok
    assert logins(double) == 1
    manual_clock.advance(double.token_lifetime + 1)
    assert rotated.get("/api/me").ok  # a refresh: the token is stored again
    assert double.refresh_calls == 1
    sealed = path.read_bytes()[len(ENCRYPTED_MARK):]
    Fernet(new).decrypt(sealed)
    with pytest.raises(InvalidToken):
        Fernet(old).decrypt(sealed)

    # The old key retired: the file was sealed with the new one already.
    monkeypatch.setenv(KEY_VARIABLE, new)
    assert encrypted_session(double, session_factory).get("/api/me").ok
    assert logins(double) == 1


def test_a_file_copied_to_another_identity_is_refused(
    double: Any, session_factory: Any, token_home: Path, file_key: str
) -> None:
    assert encrypted_session(double, session_factory, user="alice").get("/api/me").ok
    alice = token_file(token_home, "alice")
    assert alice.read_bytes().startswith(ENCRYPTED_MARK)
    bob = token_file(token_home, "bob")
    shutil.copy(alice, bob)
    bob.chmod(0o600)
    options = FileStoreOptions(path=str(token_home / "tokens"),
                               encryption_key=Secret(env=KEY_VARIABLE))
    with pytest.raises(ForgedEntryError, match="another profile or identity") as refused:
        filestore.load(TokenKey(PROFILE, "bob"), options)
    assert str(bob) in str(refused.value)
    # Another profile's folder is another place too.
    other = token_file(token_home, "alice", profile="other")
    other.parent.mkdir(mode=0o700)
    shutil.copy(alice, other)
    other.chmod(0o600)
    with pytest.raises(ForgedEntryError):
        filestore.load(TokenKey("other", "alice"), options)
    # Alice's own file is still hers.
    assert filestore.load(TokenKey(PROFILE, "alice"), options) is not None


def test_a_token_folder_moved_elsewhere_stays_readable(
    double: Any, session_factory: Any, token_home: Path, tmp_path: Path, file_key: str
) -> None:
    first = encrypted_session(double, session_factory)
    assert first.get("/api/me").ok
    moved = tmp_path / "restored" / "tokens"
    moved.parent.mkdir(mode=0o700)
    shutil.move(token_home / "tokens", moved)
    options = FileStoreOptions(path=str(moved), encryption_key=Secret(env=KEY_VARIABLE))
    assert filestore.load(TokenKey(PROFILE, "default"), options) == first.token


def test_a_clear_file_where_a_key_is_expected_is_refused_as_planted(
    tmp_path: Path, file_key: str
) -> None:
    folder = str(tmp_path / "tokens")
    key = TokenKey(PROFILE, "default")
    planted = Token(access_token="planted-access", broker="double", refresh_token="planted-r")
    filestore.save(key, planted, FileStoreOptions(path=folder))  # in clear
    assert b"planted-access" in filestore.token_path(key, FileStoreOptions(path=folder)) \
        .read_bytes()
    keyed = FileStoreOptions(path=folder, encryption_key=Secret(env=KEY_VARIABLE))
    with pytest.raises(ForgedEntryError, match="not encrypted") as refused:
        filestore.load(key, keyed)
    assert "planted-access" not in str(refused.value)
    assert "brokerauth logout test" in (refused.value.hint or "")
    # A save with the key replaces it with a sealed file, which is read.
    filestore.save(key, planted, keyed)
    assert filestore.load(key, keyed) == planted


def test_an_entry_of_another_store_s_first_envelope_is_refused(
    tmp_path: Path, file_key: str
) -> None:
    # fernet1: sealed a token for its profile and identity only (the Redis and SQL stores'
    # first envelope); copied into a token file with the same key, it must not be read.
    from brokerauth.toolkit.tokencodec import encode_token
    from cryptography.fernet import Fernet

    folder = str(tmp_path / "tokens")
    key = TokenKey(PROFILE, "default")
    keyed = FileStoreOptions(path=folder, encryption_key=Secret(env=KEY_VARIABLE))
    filestore.save(key, Token(access_token="mine", broker="double"), keyed)
    binding = json.dumps([key.profile, key.identity]).encode() + b"\n"
    old = Token(access_token="copied-from-redis", broker="double")
    sealed = b"fernet1:" + Fernet(file_key).encrypt(binding + encode_token(old))
    filestore.token_path(key, keyed).write_bytes(sealed)
    with pytest.raises(ForgedEntryError, match="never writes"):
        filestore.load(key, keyed)


def test_a_session_refuses_a_planted_file_and_logs_in_nobody_else(
    double: Any, session_factory: Any, token_home: Path, file_key: str
) -> None:
    path = token_file(token_home)
    filestore.save(TokenKey(PROFILE, "default"),
                   Token(access_token="planted-access", broker="double"),
                   FileStoreOptions(path=str(token_home / "tokens")))
    session = encrypted_session(double, session_factory)
    with pytest.raises(ForgedEntryError):
        session.get("/api/me")
    assert "planted-access" not in double.seen_tokens
    assert b"planted-access" in path.read_bytes()  # left as it was, for inspection


def test_a_wrong_key_is_a_clear_error_naming_the_variable_and_never_the_key(
    double: Any, session_factory: Any, token_home: Path, monkeypatch: pytest.MonkeyPatch,
    file_key: str,
) -> None:
    assert encrypted_session(double, session_factory).get("/api/me").ok
    wrong = new_key()
    monkeypatch.setenv(KEY_VARIABLE, wrong)
    options = FileStoreOptions(path=str(token_home / "tokens"),
                               encryption_key=Secret(env=KEY_VARIABLE))
    with pytest.raises(CorruptStoreError, match="cannot be decrypted") as refused:
        filestore.load(TokenKey(PROFILE, "default"), options)
    shown = f"{refused.value} {refused.value.hint}"
    assert f"env:{KEY_VARIABLE}" in shown
    assert wrong not in shown and file_key not in shown


def test_a_missing_key_is_a_clear_error_naming_where_it_comes_from(
    double: Any, session_factory: Any, token_home: Path, monkeypatch: pytest.MonkeyPatch,
    file_key: str,
) -> None:
    assert encrypted_session(double, session_factory).get("/api/me").ok
    key = TokenKey(PROFILE, "default")
    folder = str(token_home / "tokens")
    # The variable is not set.
    monkeypatch.delenv(KEY_VARIABLE)
    with pytest.raises(SecretUnavailableError, match=KEY_VARIABLE) as unset:
        filestore.load(key, FileStoreOptions(path=folder, encryption_key=Secret(env=KEY_VARIABLE)))
    assert file_key not in f"{unset.value} {unset.value.hint}"
    # The store has no encryption_key at all.
    with pytest.raises(StoreError, match="is encrypted, and the profile's file store has no "
                       "encryption_key") as no_key:
        filestore.load(key, FileStoreOptions(path=folder))
    assert "encryption_key = { env" in (no_key.value.hint or "")
    assert "keyring" in (no_key.value.hint or "")


def test_an_invalid_encryption_key_value_is_refused_in_the_profile(
    double: Any, session_factory: Any
) -> None:
    with pytest.raises(ConfigError, match='"keyring"') as refused:
        session_factory(double, store={"name": "file", "encryption_key": "keychain"})
    assert "store.encryption_key" in str(refused.value)
    with pytest.raises(ValueError, match="keyring"):
        FileStoreOptions(encryption_key="keychain")


def test_not_a_fernet_key_is_a_config_error_without_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, "not-a-fernet-key-at-all")
    options = FileStoreOptions(path=str(tmp_path), encryption_key=Secret(env=KEY_VARIABLE))
    with pytest.raises(ConfigError, match="not a Fernet key") as refused:
        filestore.save(TokenKey(PROFILE), Token(access_token="a", broker="double"), options)
    assert "not-a-fernet-key-at-all" not in f"{refused.value} {refused.value.hint}"
    assert not (tmp_path / PROFILE).exists()  # nothing written, no folder made


def test_a_token_near_the_size_limit_round_trips_sealed(tmp_path: Path, file_key: str) -> None:
    from brokerauth.toolkit.tokencodec import MAX_TOKEN_BYTES, encode_token

    # A long JWT-like access token: its JSON just under the codec's limit, so the sealed file
    # (base64 adds a third) is well over it.
    # Random, so that no other test's data holds it by chance (the canary watches it).
    big = Token(access_token=secrets.token_hex((MAX_TOKEN_BYTES - 400) // 2), broker="double")
    assert len(encode_token(big)) < MAX_TOKEN_BYTES
    options = FileStoreOptions(path=str(tmp_path / "tokens"),
                               encryption_key=Secret(env=KEY_VARIABLE))
    key = TokenKey(PROFILE, "default")
    filestore.save(key, big, options)
    assert filestore.token_path(key, options).stat().st_size > MAX_TOKEN_BYTES
    assert filestore.load(key, options) == big


# -- lazy imports -----------------------------------------------------------------------------
_IMPORTS_CHILD = """
import json, sys
from brokerauth.builtin import filestore
from brokerauth.contract.tokens import Token, TokenKey
options = filestore.FileStoreOptions(path=sys.argv[1])
key = TokenKey("p", "alice")
filestore.save(key, Token(access_token="a", broker="b"), options)
assert filestore.load(key, options) is not None
print(json.dumps(sorted(m for m in ("cryptography", "keyring", "secretstorage", "jeepney",
                                    "brokerauth.toolkit.envelope",
                                    "brokerauth.toolkit.keyring_key")
                        if m in sys.modules)))
"""


def test_the_file_store_without_a_key_imports_neither_cryptography_nor_keyring(
    tmp_path: Path,
) -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORTS_CHILD, str(tmp_path / "tokens")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


# -- the key in the OS keyring ------------------------------------------------------------------
def secret_service_backend() -> Any:
    """A keyring backend of our own on the Secret Service of the session's bus (this
    process's keyring may have chosen another backend before the bus was up)."""
    from keyring.backends.SecretService import Keyring

    return Keyring()  # type: ignore[no-untyped-call]


def keyring_item(service: Any) -> str | None:
    """What the real Secret Service holds under brokerauth's name."""
    value = secret_service_backend().get_password(keyring_key.SERVICE, keyring_key.NAME)
    return value if isinstance(value, str) else None


@pytest.fixture
def os_keyring(secret_service_env: Any, tmp_path: Path) -> Iterator[Any]:
    """The real Secret Service as this process's keyring, without brokerauth's item."""
    import keyring

    backend = secret_service_backend()
    with pytest.MonkeyPatch.context() as patch:
        # The OS keyring a user's session would offer: keyring picks it afresh here.
        patch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
        # The user's own brokerauth folder (the key maker's lock): the test's, not root's.
        patch.setenv("XDG_STATE_HOME", str(tmp_path / "user-state"))
        previous = keyring.get_keyring()
        keyring.set_keyring(backend)
        try:
            _forget(backend)
            yield secret_service_env
        finally:
            _forget(backend)
            keyring.set_keyring(previous)


def _forget(backend: Any) -> None:
    from keyring.errors import PasswordDeleteError

    with contextlib.suppress(PasswordDeleteError):
        backend.delete_password(keyring_key.SERVICE, keyring_key.NAME)


def test_keyring_key_is_made_on_first_use_and_read_by_other_processes(
    os_keyring: Any, sandbox_factory: Any, token_home: Path
) -> None:
    from brokerauth.contract.clock import SystemClock

    double = sandbox_factory("double", clock=SystemClock())
    assert keyring_item(os_keyring) is None
    profile = Profile.from_mapping("fleet", {"broker": "double", **double.profile_settings(),
                                             "store": KEYRING_STORE})
    # Fresh interpreters choose their keyring backend themselves, from the session's bus.
    statuses = run_fleet(profile, path="/api/me", processes=3, threads=2,
                         env={"BROKERAUTH_HOME": str(token_home)})
    assert statuses == ["200"] * 6
    assert logins(double) == 1
    made = keyring_item(os_keyring)
    assert made is not None
    path = sorted(p for p in (token_home / "tokens" / "fleet").glob("*.json")
                  if not p.name.startswith("@"))
    assert len(path) == 1
    data = path[0].read_bytes()
    assert data.startswith(ENCRYPTED_MARK)
    assert made.encode() not in data
    Fernet(made).decrypt(data[len(ENCRYPTED_MARK):])  # sealed with the keyring's key

    # A second run reads it with the same key: no new login, no new key.
    assert run_fleet(profile, path="/api/me", processes=2, threads=1,
                     env={"BROKERAUTH_HOME": str(token_home)}) == ["200"] * 2
    assert logins(double) == 1
    assert keyring_item(os_keyring) == made


def test_keyring_session_in_process_round_trip(
    os_keyring: Any, double: Any, session_factory: Any, token_home: Path
) -> None:
    first = session_factory(double, store=KEYRING_STORE)
    assert first.get("/api/me").ok
    made = keyring_item(os_keyring)
    assert made is not None
    data = only_token_file(token_home).read_bytes()
    assert data.startswith(ENCRYPTED_MARK)
    token = first.token
    assert token is not None and token.access_token.encode() not in data
    second = session_factory(double, store=KEYRING_STORE)
    assert second.get("/api/me").ok and second.token == token
    assert logins(double) == 1


def test_keyring_without_its_key_is_a_clear_error(
    os_keyring: Any, double: Any, session_factory: Any, token_home: Path
) -> None:
    assert session_factory(double, store=KEYRING_STORE).get("/api/me").ok
    made = keyring_item(os_keyring)
    assert made is not None
    secret_service_backend().delete_password(keyring_key.SERVICE, keyring_key.NAME)
    options = FileStoreOptions(path=str(token_home / "tokens"), encryption_key="keyring")
    with pytest.raises(StoreError, match="the OS keyring") as missing:
        filestore.load(TokenKey(PROFILE, "default"), options)
    shown = f"{missing.value} {missing.value.hint}"
    assert "holds no such key" in shown and made not in shown
    assert keyring_item(os_keyring) is None  # a read never makes a key


def test_keyring_with_another_key_is_a_clear_error(
    os_keyring: Any, double: Any, session_factory: Any, token_home: Path
) -> None:
    assert session_factory(double, store=KEYRING_STORE).get("/api/me").ok
    made = keyring_item(os_keyring)
    assert made is not None
    other = new_key()
    secret_service_backend().set_password(keyring_key.SERVICE, keyring_key.NAME, other)
    options = FileStoreOptions(path=str(token_home / "tokens"), encryption_key="keyring")
    with pytest.raises(CorruptStoreError, match="cannot be decrypted") as refused:
        filestore.load(TokenKey(PROFILE, "default"), options)
    shown = f"{refused.value} {refused.value.hint}"
    assert "the OS keyring" in shown
    assert made not in shown and other not in shown


def test_a_planted_clear_file_is_refused_with_the_keyring_key_too(
    os_keyring: Any, tmp_path: Path
) -> None:
    key = TokenKey(PROFILE, "default")
    folder = str(tmp_path / "tokens")
    filestore.save(key, Token(access_token="planted", broker="double"),
                   FileStoreOptions(path=folder))
    with pytest.raises(ForgedEntryError, match="not encrypted"):
        filestore.load(key, FileStoreOptions(path=folder, encryption_key="keyring"))
    assert keyring_item(os_keyring) is None  # refused before any key is read or made


_KEYRING_CHILD = """
import sys
from brokerauth.builtin import filestore
from brokerauth.contract.errors import BrokerAuthError
from brokerauth.contract.tokens import Token, TokenKey
if sys.argv[2] == "no-package":
    sys.modules["keyring"] = None  # as if it were not installed
options = filestore.FileStoreOptions(path=sys.argv[1], encryption_key="keyring")
try:
    filestore.save(TokenKey("p"), Token(access_token="a", broker="b"), options)
except BrokerAuthError as exc:
    print(type(exc).__name__, exc, exc.hint)
else:
    print("saved")
"""


def _keyring_child(folder: Path, mode: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", _KEYRING_CHILD, str(folder), mode],
                          capture_output=True, text=True, timeout=60, check=False, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_keyring_asked_for_without_the_package_names_the_install(tmp_path: Path) -> None:
    said = _keyring_child(tmp_path / "tokens", "no-package", dict(os.environ))
    assert said.startswith("ConfigError")
    assert "pip install 'brokerauth[file-keyring]'" in said
    assert not (tmp_path / "tokens" / "p").exists()


def test_no_os_keyring_is_a_clear_error_not_a_plain_file(tmp_path: Path) -> None:
    # No session bus: keyring falls back to what is left (here keyrings.alt's plain file, or
    # nothing); neither is an OS keyring.
    env = {k: v for k, v in os.environ.items()
           if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    said = _keyring_child(tmp_path / "tokens", "", env)
    assert said.startswith("StoreError"), said
    assert "no OS keyring is available" in said
    assert not (tmp_path / "data" / "python_keyring").exists()  # no key in a plain file


def test_keyring_in_a_fresh_process_uses_the_session_s_secret_service(
    os_keyring: Any, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    assert _keyring_child(tmp_path / "tokens", "", env) == "saved"
    assert keyring_item(os_keyring) is not None


_FIRST_USE_CHILD = """
import sys, time
from pathlib import Path
from brokerauth.builtin import filestore
from brokerauth.contract.tokens import Token, TokenKey
go = Path(sys.argv[2])
import keyring.backends.SecretService, cryptography.fernet  # imported before the race
print("ready", flush=True)
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
options = filestore.FileStoreOptions(path=sys.argv[1], encryption_key="keyring")
filestore.save(TokenKey("race", sys.argv[3]), Token(access_token="a", broker="b"), options)
print("saved")
"""


@pytest.mark.parametrize("folders", ["one", "one each"])
def test_processes_using_the_keyring_first_at_once_make_one_key(
    os_keyring: Any, tmp_path: Path, folders: str
) -> None:
    # One keyring entry serves every token folder of the user: processes using different
    # folders (their own BROKERAUTH_HOME, a profile's path) race for the same key.
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")  # the user's own folder, for its lock
    identities = [f"user{n}" for n in range(6)]

    def folder_of(identity: str) -> Path:
        return tmp_path / ("tokens" if folders == "one" else f"tokens-{identity}")

    children = [subprocess.Popen([sys.executable, "-c", _FIRST_USE_CHILD,
                                  str(folder_of(identity)), str(go), identity],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env) for identity in identities]
    for child in children:  # every interpreter started, before they race for the missing key
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0 and out.strip() == "saved", err
    made = keyring_item(os_keyring)
    assert made is not None
    for identity in identities:
        # Every one sealed with the key the keyring kept, none with a key it lost.
        options = FileStoreOptions(path=str(folder_of(identity)), encryption_key="keyring")
        assert filestore.load(TokenKey("race", identity), options) is not None
    # The makers met at the user's own lock, not one per folder.
    assert (tmp_path / "state" / "brokerauth" / "@file-store-key.lock").exists()


def test_a_locked_keyring_is_a_clear_error(
    os_keyring: Any, double: Any, session_factory: Any, token_home: Path
) -> None:
    assert session_factory(double, store=KEYRING_STORE).get("/api/me").ok
    made = keyring_item(os_keyring)
    assert made is not None
    options = FileStoreOptions(path=str(token_home / "tokens"), encryption_key="keyring")
    os_keyring.lock()  # as a screen lock would
    try:
        with pytest.raises(StoreError, match="could not read the key from the OS keyring") \
                as locked:
            filestore.load(TokenKey(PROFILE, "default"), options)
        assert "unlock the keyring" in (locked.value.hint or "")
        assert made not in f"{locked.value} {locked.value.hint}"
    finally:
        os_keyring.unlock()
    assert filestore.load(TokenKey(PROFILE, "default"), options) is not None


_PLANT_PLAIN_CHILD = """
import sys
from keyrings.alt.file import PlaintextKeyring
PlaintextKeyring().set_password("brokerauth", "file-store-key", sys.argv[1])
"""


def test_a_key_in_a_plain_file_keyring_is_never_used_beside_the_os_keyring(
    os_keyring: Any, tmp_path: Path
) -> None:
    # Where keyrings.alt is installed too, keyring chains it behind the Secret Service, and a
    # chained read finding nothing in the keyring falls through to the plain file.  (The
    # tests need keyrings.alt, as the keyring store's do.)
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    planted = new_key()
    subprocess.run([sys.executable, "-c", _PLANT_PLAIN_CHILD, planted], env=env, check=True,
                   timeout=60)
    try:
        assert _keyring_child(tmp_path / "tokens", "", env) == "saved"
        made = keyring_item(os_keyring)
        assert made is not None and made != planted
        sealed = (tmp_path / "tokens" / "p" / "default.json").read_bytes()
        Fernet(made).decrypt(sealed[len(ENCRYPTED_MARK):])
        with pytest.raises(InvalidToken):
            Fernet(planted).decrypt(sealed[len(ENCRYPTED_MARK):])
    finally:
        plain = Path(os.environ["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
        plain.unlink(missing_ok=True)
        # The folder too: later tests of the session's bus check that no back end made it.
        with contextlib.suppress(OSError):
            plain.parent.rmdir()


def test_a_plain_file_keyring_configured_for_keyring_is_refused(
    os_keyring: Any, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}
    said = _keyring_child(tmp_path / "tokens", "", env)
    assert said.startswith("StoreError") and "keyrings.alt.file.PlaintextKeyring" in said, said
    assert keyring_item(os_keyring) is None
    plain = Path(os.environ["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
    assert not plain.exists()


# -- an item that holds no valid key ----------------------------------------------------------
@pytest.mark.parametrize("held", ["garbage", "empty", "blank", "one good one bad"])
def test_a_keyring_item_that_is_not_a_key_is_refused_and_never_replaced(
    os_keyring: Any, double: Any, session_factory: Any, token_home: Path, held: str
) -> None:
    assert session_factory(double, store=KEYRING_STORE).get("/api/me").ok
    made = keyring_item(os_keyring)
    assert made is not None
    sealed = only_token_file(token_home).read_bytes()
    value = {"garbage": f"not-a-key-{secrets.token_hex(8)}", "empty": "", "blank": "  ",
             "one good one bad": f"{new_key()},x{secrets.token_hex(8)}"}[held]
    secret_service_backend().set_password(keyring_key.SERVICE, keyring_key.NAME, value)
    assert keyring_item(os_keyring) == value
    options = FileStoreOptions(path=str(token_home / "tokens"), encryption_key="keyring")
    key = TokenKey(PROFILE, "default")
    calls: list[Callable[[], object]] = [
        lambda: filestore.load(key, options),
        lambda: filestore.save(key, Token(access_token="new", broker="double"), options),
        lambda: filestore.save(TokenKey(PROFILE, "other"),
                               Token(access_token="new", broker="double"), options)]
    for call in calls:
        with pytest.raises(CorruptStoreError, match="is not a valid key") as refused:
            call()
        message, hint = refused.value.message, refused.value.hint or ""
        assert "the OS keyring (service 'brokerauth', name 'file-store-key')" in message
        if held in ("empty", "blank"):
            assert "it is empty" in message
        # No invitation to make a new key, which would orphan every token sealed before.
        assert "make a key with" not in hint
        assert "do not replace it with a new key" in hint
        assert "never be read again" in hint
        assert "secret-tool lookup service brokerauth username file-store-key" in hint
        assert "python -m keyring set brokerauth file-store-key" in hint
        shown = f"{refused.value} {hint}"
        assert made not in shown
        assert all(part not in shown for part in value.split(",") if part.strip())
    # Left as it was, for the user to inspect or restore: not overwritten, not removed.
    assert keyring_item(os_keyring) == value
    assert only_token_file(token_home).read_bytes() == sealed
    assert not token_file(token_home, "other").exists()
    # A session says the same, and makes no key either.
    with pytest.raises(CorruptStoreError, match="is not a valid key"):
        session_factory(double, store=KEYRING_STORE).get("/api/me")
    assert keyring_item(os_keyring) == value
    # The old key put back: everything sealed with it reads again.
    secret_service_backend().set_password(keyring_key.SERVICE, keyring_key.NAME, made)
    assert filestore.load(key, options) is not None


def test_an_empty_keyring_item_is_not_read_as_no_key_on_first_use(
    os_keyring: Any, tmp_path: Path
) -> None:
    # No token sealed yet, but an item that is there and empty is no "first use": it may be
    # a key some tool blanked, and making one over it hides that.
    secret_service_backend().set_password(keyring_key.SERVICE, keyring_key.NAME, "")
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    said = _keyring_child(tmp_path / "tokens", "", env)
    assert said.startswith("CorruptStoreError") and "it is empty" in said, said
    assert keyring_item(os_keyring) == ""
    assert not (tmp_path / "tokens" / "p" / "default.json").exists()
