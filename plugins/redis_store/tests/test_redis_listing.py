"""Listing a profile's tokens in Redis (``list_tokens``): SCAN in batches over the profile's
token entries, never KEYS; identities read back exactly from the entry names; logout
records (which keep an encrypted value) not listed, unreadable entries listed; entries from
before the listing mark, and marks a version without them left stale, handled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from brokerauth.contract.errors import StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.toolkit.secrets import Secret
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_redis.store import RedisStore, key_names
from redis_helpers import RedisServer, make_token

PROFILE = "platform"
#: A platform's scale, in a few seconds of saves; 10,000 are listed in the benchmark.
MANY = 2_000
UNUSUAL = [
    "Alice", "alice", "a:b", "a}b", "{x}", "a*b", "a?b", "[ab]", "back\\slash", "%41", "%",
    "a b", "日本語", "e\u0301", "é", "\ud800", "new\nline", "x}:token", ".", "default",
]


@pytest.fixture
def no_keys_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server on which KEYS does not exist: a listing calling it fails."""
    server = RedisServer(tmp_path / "redis", extra_args=("--rename-command", "KEYS", ""))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:
    made = RedisStore(RedisStoreOptions(url=redis_server.url))
    yield made
    made.close()


@pytest.fixture
def sealed(redis_server: RedisServer, fernet_key: str) -> Iterator[RedisStore]:
    made = RedisStore(RedisStoreOptions(url=redis_server.url,
                                        encryption_key=Secret(env="BROKERAUTH_TEST_REDIS_KEY")))
    yield made
    made.close()


def listed(store: RedisStore, profile: str = PROFILE) -> list[str]:
    keys = list(store.list_keys(profile))
    assert {key.profile for key in keys} <= {profile}
    identities = [key.identity for key in keys]
    assert len(identities) == len(set(identities)), "an identity listed twice"
    return sorted(identities)


def save(store: RedisStore, *identities: str, profile: str = PROFILE) -> None:
    for identity in identities:
        store.save(TokenKey(profile, identity), make_token(identity))


def entry(store: RedisStore, identity: str, profile: str = PROFILE) -> str:
    return key_names(store.options.key_prefix, TokenKey(profile, identity)).token


def test_many_identities_list_exactly_by_scan_in_batches(no_keys_server: RedisServer) -> None:
    store = RedisStore(RedisStoreOptions(url=no_keys_server.url))
    try:
        identities = {f"user-{n:05d}" if n % 3 else f"User.{n}@example.com" for n in range(MANY)}
        save(store, *identities)
        save(store, "someone-else", profile="other")
        with no_keys_server.client() as client:
            client.config_resetstat()
            assert set(listed(store)) == identities
            stats = client.info("commandstats")
        assert "cmdstat_keys" not in stats
        # Batches: the keyspace (4,000 keys and more) takes several SCAN calls of COUNT 1000.
        assert stats["cmdstat_scan"]["calls"] > 1
        assert listed(store, "other") == ["someone-else"]
    finally:
        store.close()


@pytest.mark.parametrize("encrypted", [False, True])
def test_unusual_identities_round_trip_exactly(
    request: pytest.FixtureRequest, encrypted: bool
) -> None:
    store: RedisStore = request.getfixturevalue("sealed" if encrypted else "store")
    save(store, *UNUSUAL)
    assert listed(store) == sorted(UNUSUAL)


def test_other_profiles_locks_fences_and_budgets_are_not_listed(
    store: RedisStore, redis_server: RedisServer
) -> None:
    from brokerauth.contract.specs import CallBudget

    save(store, "alice")
    for other in ("Platform", "platform2", "platfor", "platform:x", "plat*", "platform}"):
        save(store, f"bob-of-{other}", profile=other)
    key = TokenKey(PROFILE, "carol")
    with store.lock(key, timeout=1.0) as held:
        assert held
        store.take_call(key, CallBudget("token", 5, 60.0, "identity"), 1.0)
        store.take_call(key, CallBudget("token", 5, 60.0, "app"), 1.0)
        with redis_server.client() as client:
            # Names SCAN's pattern matches that are no entry of this store's.
            for planted in ("brokerauth:{platform:x}y}:token", "brokerauth:{platform:}:token",
                            "brokerauth:{platform:%zz}:token", "brokerauth:{platform:%41}:token",
                            "brokerauth:{platform:a:b}:token"):
                client.hset(planted, "v", b"{}")
            assert client.exists(f"brokerauth:{{{PROFILE}:carol}}:lock")
        assert listed(store) == ["alice"]


def test_a_glob_in_the_key_prefix_is_matched_literally(redis_server: RedisServer) -> None:
    stores = [RedisStore(RedisStoreOptions(url=redis_server.url, key_prefix=prefix))
              for prefix in ("desk*[a]?", "desk-x[a]z", "deskXaY")]
    try:
        for n, each in enumerate(stores):
            save(each, f"user-{n}")
        assert [listed(each) for each in stores] == [["user-0"], ["user-1"], ["user-2"]]
    finally:
        for each in stores:
            each.close()


@pytest.mark.parametrize("encrypted", [False, True])
def test_logged_out_identities_are_not_listed(
    request: pytest.FixtureRequest, redis_server: RedisServer, encrypted: bool
) -> None:
    store: RedisStore = request.getfixturevalue("sealed" if encrypted else "store")
    save(store, "alice", "bob")
    assert store.delete(TokenKey(PROFILE, "alice"))
    with redis_server.client() as client:
        # The logout record is still there, with a value when encrypted.
        assert client.hexists(entry(store, "alice"), "v") == encrypted
    assert listed(store) == ["bob"]
    save(store, "alice")  # logging in again
    assert listed(store) == ["alice", "bob"]


@pytest.mark.parametrize("encrypted", [False, True])
def test_entries_from_before_the_mark_are_listed_by_what_they_hold(
    request: pytest.FixtureRequest, redis_server: RedisServer, encrypted: bool
) -> None:
    store: RedisStore = request.getfixturevalue("sealed" if encrypted else "store")
    save(store, "alice", "bob")
    store.delete(TokenKey(PROFILE, "bob"))
    with redis_server.client() as client:
        for identity in ("alice", "bob"):
            assert client.hdel(entry(store, identity), "t") == 1
    assert listed(store) == ["alice"]


def test_a_mark_left_stale_by_a_version_without_it_is_not_trusted(
    sealed: RedisStore, redis_server: RedisServer
) -> None:
    save(sealed, "alice")
    name = entry(sealed, "alice")
    with redis_server.client() as client:
        token_entry = client.hgetall(name)
        sealed.delete(TokenKey(PROFILE, "alice"))
        assert client.hget(name, "t").startswith(b"0:")
        # A process of the version before writes a token again: v, g and f, and no t.
        client.hset(name, mapping={field: token_entry[field] for field in (b"v", b"g", b"f")})
    assert listed(sealed) == ["alice"]


def test_marked_entries_are_listed_without_opening_a_value(
    sealed: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from brokerauth_redis import store as store_module

    save(sealed, "alice", "bob")
    sealed.delete(TokenKey(PROFILE, "bob"))

    def never(value: object, cipher: object) -> bool:
        raise AssertionError("a marked entry's value was opened")

    monkeypatch.setattr(store_module, "_is_logout_record", never)
    assert listed(sealed) == ["alice"]


def test_an_unreadable_entry_is_still_listed(sealed: RedisStore,
                                             redis_server: RedisServer) -> None:
    save(sealed, "tampered", "forged")
    with redis_server.client() as client:
        client.hset(entry(sealed, "tampered"), mapping={"v": b"fernet2:not-a-fernet-token"})
        client.hdel(entry(sealed, "tampered"), "t")
        client.hset(entry(sealed, "forged"), "v", b'{"access_token": "planted"}')
        client.set(entry(sealed, "a-string"), b"not a hash")
    assert listed(sealed) == ["a-string", "forged", "tampered"]


def test_nothing_stored_lists_nothing(store: RedisStore) -> None:
    assert listed(store) == []


def test_an_unreachable_server_is_a_store_error(store: RedisStore,
                                                redis_server: RedisServer) -> None:
    save(store, "alice")
    redis_server.stop()
    with pytest.raises(StoreError, match="list the tokens of profile 'platform'"):
        listed(store)


def test_the_plugin_lists_through_the_host(redis_server: RedisServer) -> None:
    host = PluginHost.create()
    options = RedisStoreOptions(url=redis_server.url)
    host.strategy("store", "redis")
    plugin = host.loaded["redis"].plugin
    assert isinstance(plugin, RedisPlugin)
    try:
        for identity in ("Alice", "alice"):
            host.store_token("redis", TokenKey(PROFILE, identity), make_token(), options,
                             owner="redis")
        keys = host.list_tokens("redis", PROFILE, options, owner="redis")
        assert keys is not None
        assert sorted(key.identity for key in keys) == ["Alice", "alice"]
    finally:
        plugin.close()
