"""Tokens encrypted at rest with the shared envelope (brokerauth.toolkit.envelope): sealed
for their row, refused when moved, planted in clear or replayed; keys rotate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import CorruptStoreError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.toolkit.envelope import ENCRYPTED_MARK, ForgedEntryError, ReplayedEntryError
from brokerauth.toolkit.secrets import Secret
from brokerauth_sql.options import SqlStoreOptions
from brokerauth_sql.plugin import SqlPlugin
from brokerauth_sql.rows import entry_name
from cryptography.fernet import Fernet
from sql_helpers import Raw, make_token


@pytest.fixture
def encrypted(options_of: Any, fernet_key: str) -> SqlStoreOptions:
    return options_of(encryption_key=Secret(env="BROKERAUTH_TEST_SQL_KEY"))


def _row(raw: Raw, key: TokenKey) -> bytes:
    ((data,),) = raw("SELECT data FROM brokerauth_tokens WHERE profile = ? AND identity = ?",
                     (key.profile, key.identity))
    return bytes(data)


def test_a_token_is_sealed_for_its_row(
    plugin: SqlPlugin, encrypted: SqlStoreOptions, key: TokenKey, database: Path,
    fernet_key: str, raw: Raw, backend: str,
) -> None:
    token = make_token()
    plugin.store_token("sql", key, token, encrypted)
    data = _row(raw, key)
    assert data.startswith(ENCRYPTED_MARK)
    assert token.access_token.encode() not in data
    plugin.close()
    for path in database.parent.glob("tokens.db*") if backend == "sqlite" else ():
        if path.is_file():
            content = path.read_bytes()
            assert token.access_token.encode() not in content, path
            assert str(token.refresh_token).encode() not in content, path
    header, _, body = Fernet(fernet_key).decrypt(data[len(ENCRYPTED_MARK):]).partition(b"\n")
    assert json.loads(header)["entry"] == entry_name(key)
    assert json.loads(body)["access_token"] == token.access_token
    assert SqlPlugin().load_token("sql", key, encrypted) == token


def test_keys_can_be_rotated(
    plugin: SqlPlugin, encrypted: SqlStoreOptions, key: TokenKey, raw: Raw, where: str,
    fernet_key: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_token = make_token("old")
    plugin.store_token("sql", key, old_token, encrypted)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("ROTATED", f"{new_key},{fernet_key}")
    rotated = SqlStoreOptions(url=encrypted.url, encryption_key=Secret(env="ROTATED"))
    # The new key first: entries sealed with the old one are still read...
    assert plugin.load_token("sql", key, rotated) == old_token
    # ...and every write seals with the new one.
    new_token = make_token("new")
    plugin.store_token("sql", key, new_token, rotated)
    Fernet(new_key).decrypt(_row(raw, key)[len(ENCRYPTED_MARK):])
    monkeypatch.setenv("ONLY_NEW", new_key)
    only_new = SqlStoreOptions(url=encrypted.url, encryption_key=Secret(env="ONLY_NEW"))
    assert SqlPlugin().load_token("sql", key, only_new) == new_token
    # The old key alone no longer opens it: a clear error naming the key's source.
    with pytest.raises(CorruptStoreError, match="cannot be decrypted") as info:
        SqlPlugin().load_token("sql", key, encrypted)
    assert "env:BROKERAUTH_TEST_SQL_KEY" in info.value.message
    assert where in info.value.message


def test_a_row_copied_to_another_identity_is_refused(
    plugin: SqlPlugin, encrypted: SqlStoreOptions, key: TokenKey, raw: Raw
) -> None:
    # The victim's row first: the copy is then newer than the row it lands in, so only its
    # binding to the row can tell.
    victim = TokenKey(key.profile, "victim")
    plugin.store_token("sql", victim, make_token("victim"), encrypted)
    plugin.store_token("sql", key, make_token(), encrypted)
    raw("UPDATE brokerauth_tokens SET data = ? WHERE identity = 'victim'", (_row(raw, key),))
    with pytest.raises(ForgedEntryError, match="another profile or identity"):
        plugin.load_token("sql", victim, encrypted)


def test_a_token_planted_in_clear_is_refused_when_a_key_is_expected(
    plugin: SqlPlugin, encrypted: SqlStoreOptions, options: SqlStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token(), options)
    with pytest.raises(ForgedEntryError, match="not encrypted") as info:
        plugin.load_token("sql", key, encrypted)
    assert "brokerauth logout platform" in (info.value.hint or "")


def test_an_older_sealed_value_put_back_is_refused(
    plugin: SqlPlugin, encrypted: SqlStoreOptions, key: TokenKey, raw: Raw
) -> None:
    plugin.store_token("sql", key, make_token("old"), encrypted)
    old = _row(raw, key)
    plugin.store_token("sql", key, make_token("new"), encrypted)
    raw("UPDATE brokerauth_tokens SET data = ?", (old,))
    with pytest.raises(ReplayedEntryError, match="older value"):
        plugin.load_token("sql", key, encrypted)


def test_an_encrypted_row_without_a_key_is_refused(
    plugin: SqlPlugin, encrypted: SqlStoreOptions, options: SqlStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("sql", key, make_token(), encrypted)
    with pytest.raises(StoreError, match="is encrypted, and the profile's sql store has no"):
        plugin.load_token("sql", key, options)


def test_a_key_that_is_not_a_fernet_key_is_a_clear_error(
    plugin: SqlPlugin, options_of: Any, key: TokenKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAD_KEY", "not-a-key")
    bad = options_of(encryption_key=Secret(env="BAD_KEY"))
    with pytest.raises(Exception, match="the sql store's encryption_key") as info:
        plugin.store_token("sql", key, make_token(), bad)
    assert "not-a-key" not in str(info.value)
