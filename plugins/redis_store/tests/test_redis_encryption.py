"""Tokens encrypted at rest with Fernet: unreadable without the key, bound to their key."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from brokerauth.contract.errors import ConfigError, CorruptStoreError, StoreError
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.envelope import ENCRYPTED_MARK
from brokerauth.toolkit.secrets import Secret
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from cryptography.fernet import Fernet
from redis_helpers import RedisServer, redis_store

ENTRY = "brokerauth:{fleet:default}:token"


def make_token() -> Token:
    now = datetime.now(UTC)
    return Token(
        access_token="acc-" + secrets.token_urlsafe(24),
        refresh_token="ref-" + secrets.token_urlsafe(24),
        broker="bearer_double", issued_at=now, expires_at=now + timedelta(hours=1),
    )


@pytest.fixture
def encrypted(redis_server: RedisServer, fernet_key: str) -> RedisStoreOptions:
    return RedisStoreOptions(url=redis_server.url,
                             encryption_key=Secret(env="BROKERAUTH_TEST_REDIS_KEY"))


def raw_entry(redis_server: RedisServer) -> bytes:
    with redis_server.client() as client:
        value = client.hget(ENTRY, "v")
    assert isinstance(value, bytes)
    return value


def test_the_value_in_redis_reveals_nothing_without_the_key(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey,
    redis_server: RedisServer, fernet_key: str,
) -> None:
    token = make_token()
    plugin.store_token("redis", key, token, encrypted)
    value = raw_entry(redis_server)
    assert value.startswith(ENCRYPTED_MARK)
    for secret in (token.access_token, token.refresh_token):
        assert secret is not None
        assert secret.encode() not in value
    assert b"access_token" not in value
    assert b"bearer_double" not in value
    with pytest.raises(ValueError, match=r"JSON|Expecting"):
        json.loads(value)
    # With the key, the plaintext is the header (the entry it belongs to, its generation
    # and its fence) and the token's JSON.
    plain = Fernet(fernet_key).decrypt(value[len(ENCRYPTED_MARK):])
    header, _, body = plain.partition(b"\n")
    sealed = json.loads(header)
    assert sealed["entry"] == ENTRY
    assert set(sealed) == {"entry", "g", "f"}
    assert json.loads(body)["access_token"] == token.access_token
    assert plugin.load_token("redis", key, encrypted) == token


def test_a_wrong_key_is_a_clear_error(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey,
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer,
) -> None:
    plugin.store_token("redis", key, make_token(), encrypted)
    monkeypatch.setenv("OTHER_KEY", Fernet.generate_key().decode())
    other = RedisStoreOptions(url=redis_server.url, encryption_key=Secret(env="OTHER_KEY"))
    with pytest.raises(CorruptStoreError) as info:
        plugin.load_token("redis", key, other)
    text = str(info.value)
    assert "cannot be decrypted" in text
    assert "env:OTHER_KEY" in text
    assert ENTRY in text
    assert "brokerauth logout fleet" in text
    assert "key the rest of the fleet uses" in text


def test_an_encrypted_entry_without_a_key_is_refused(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    plugin.store_token("redis", key, make_token(), encrypted)
    with pytest.raises(StoreError, match="is encrypted") as info:
        plugin.load_token("redis", key, RedisStoreOptions(url=redis_server.url))
    assert "encryption_key" in (info.value.hint or "")


def test_an_entry_in_clear_is_refused_when_a_key_is_expected(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    """Someone with write access to Redis but not the key cannot plant a token."""
    plugin.store_token("redis", key, make_token(), RedisStoreOptions(url=redis_server.url))
    with pytest.raises(StoreError, match="not encrypted") as info:
        plugin.load_token("redis", key, encrypted)
    assert "brokerauth logout fleet" in (info.value.hint or "")


def test_an_entry_moved_to_another_identity_is_refused(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    plugin.store_token("redis", key, make_token(), encrypted)
    with redis_server.client() as client:
        client.hset("brokerauth:{fleet:victim}:token", "v", raw_entry(redis_server))
    with pytest.raises(CorruptStoreError, match="another profile or identity"):
        plugin.load_token("redis", TokenKey("fleet", "victim"), encrypted)


def test_keys_can_be_rotated(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey,
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, fernet_key: str,
) -> None:
    old_token = make_token()
    plugin.store_token("redis", key, old_token, encrypted)
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("ROTATED", f"{new_key}, {fernet_key}")
    rotated = RedisStoreOptions(url=redis_server.url, encryption_key=Secret(env="ROTATED"))
    assert plugin.load_token("redis", key, rotated) == old_token
    new_token = make_token()
    plugin.store_token("redis", key, new_token, rotated)
    Fernet(new_key).decrypt(raw_entry(redis_server)[len(ENCRYPTED_MARK):])
    with pytest.raises(CorruptStoreError):
        plugin.load_token("redis", key, encrypted)


# Ids, not the values: a test id lands in logs, and the canary treats the values as secrets.
@pytest.mark.parametrize("value", ["not-a-fernet-key-but-long-enough", ",", "short"],
                         ids=["garbage", "only-commas", "short"])
def test_a_bad_key_is_a_config_error_that_never_shows_it(
    plugin: RedisPlugin, key: TokenKey, redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch, value: str,
) -> None:
    monkeypatch.setenv("BAD_KEY", value)
    options = RedisStoreOptions(url=redis_server.url, encryption_key=Secret(env="BAD_KEY"))
    with pytest.raises(ConfigError) as info:
        plugin.store_token("redis", key, make_token(), options)
    assert "env:BAD_KEY" in str(info.value)
    assert "Fernet.generate_key" in (info.value.hint or "")
    if len(value) > 5:
        assert value not in str(info.value)


def test_an_encrypted_fleet_session_end_to_end(
    double: Any, session_factory: Any, redis_server: RedisServer, fernet_key: str,
) -> None:
    store = redis_store(redis_server.url, encryption_key={"env": "BROKERAUTH_TEST_REDIS_KEY"})
    first = session_factory(double, name="fleet", store=store)
    assert first.get("/api/me").ok
    second = session_factory(double, name="fleet", store=store)
    assert second.get("/api/me").ok
    assert second.token == first.token
    assert double.count("POST", "/oauth/token") == 1
    assert raw_entry(redis_server).startswith(ENCRYPTED_MARK)


def test_an_unset_key_is_reported_when_the_session_opens(monkeypatch: Any,
                                                         token_home: Any) -> None:
    import brokerauth
    from brokerauth.contract.errors import ProfileError
    from brokerauth.engine.profiles import Profile

    monkeypatch.delenv("NO_SUCH_REDIS_KEY", raising=False)
    profile = Profile.from_mapping("fleet", {
        "broker": "bearer_double", "client_id": "c", "client_secret": Secret.from_value("s" * 16),
        "store": {"name": "redis", "url": "redis://127.0.0.1:1/0",
                  "encryption_key": {"env": "NO_SUCH_REDIS_KEY"}},
    })
    with pytest.raises(ProfileError) as info:
        brokerauth.session(profile)
    assert info.value.key == "store.encryption_key"
    assert "NO_SUCH_REDIS_KEY" in str(info.value)
