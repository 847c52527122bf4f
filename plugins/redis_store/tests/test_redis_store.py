"""The redis store's hooks against a real redis-server: options, keys, load, store, delete,
the lease lock and its fencing, errors."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import ConfigError, CorruptStoreError, ProfileError, StoreError
from brokerauth.contract.tokens import TokenKey
from brokerauth.engine.pluginhost import PluginHost
from brokerauth.engine.profiles import Profile
from brokerauth.engine.resolve import resolve_profile
from brokerauth.toolkit.secrets import Secret
from brokerauth_redis.options import RedisStoreOptions, safe_location
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_redis.store import StaleWriteError, key_names
from redis_helpers import RedisServer, make_token


def double_profile(url: str, /, **store: Any) -> Profile:
    return Profile.from_mapping("fleet", {
        "broker": "bearer_double", "base_url": "http://127.0.0.1:9", "client_id": "c",
        "client_secret": {"env": "UNUSED_SECRET"}, "store": {"name": "redis", "url": url, **store},
    })


def test_a_missing_redis_server_fails_the_tests_instead_of_skipping_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import redis_helpers

    monkeypatch.setattr(redis_helpers.shutil, "which", lambda name: None)
    monkeypatch.setattr(redis_helpers, "FALLBACK_PATHS", ())
    with pytest.raises(pytest.fail.Exception, match="apt-get install redis-server"):
        RedisServer(tmp_path / "nowhere")


# -- the plugin and its options ------------------------------------------------------------


def test_the_redis_store_is_installed_and_described(host: PluginHost) -> None:
    spec, owner = host.strategy("store", "redis")
    assert owner == "redis"
    assert spec.options is RedisStoreOptions
    assert "Redis" in spec.description
    assert host.loaded["redis"].distribution == "brokerauth-redis"


def test_a_profile_structures_its_store_options(host: PluginHost) -> None:
    # A server on another machine: TLS and a key, as the transport rule asks.
    profile = double_profile("rediss://10.1.2.3:6380/2", key_prefix="desk-a", lock_ttl=3,
                           encryption_key={"env": "FLEET_KEY"})
    resolved = resolve_profile(profile, host)
    options = resolved.store.options
    assert options == RedisStoreOptions(
        url="rediss://10.1.2.3:6380/2", key_prefix="desk-a", lock_ttl=3.0,
        encryption_key=Secret(env="FLEET_KEY"),
    )
    assert resolved.store.owner == "redis"


def test_the_readmes_fleet_profile_resolves(host: PluginHost) -> None:
    from brokerauth.engine.profiles import parse_profiles

    profiles = parse_profiles('''
[profiles.desk]
broker = "bearer_double"
base_url = "http://127.0.0.1:9"
client_id = "c"
client_secret = { env = "UNUSED_SECRET" }

[profiles.desk.store]
name = "redis"
url = { env = "BROKERAUTH_REDIS_URL" }
encryption_key = { env = "BROKERAUTH_REDIS_KEY" }
''', source="brokerauth.toml")
    options = resolve_profile(profiles.get("desk"), host).store.options
    assert options == RedisStoreOptions(url=Secret(env="BROKERAUTH_REDIS_URL"),
                                        encryption_key=Secret(env="BROKERAUTH_REDIS_KEY"))


def test_defaults_point_at_a_local_redis(host: PluginHost) -> None:
    profile = Profile.from_mapping("p", {
        "broker": "bearer_double", "base_url": "http://127.0.0.1:9", "client_id": "c",
        "client_secret": {"env": "UNUSED_SECRET"}, "store": "redis",
    })
    options = resolve_profile(profile, host).store.options
    assert options == RedisStoreOptions()
    assert options.url == "redis://127.0.0.1:6379/0"
    assert options.lock_ttl == 1.0


@pytest.mark.parametrize(("store", "key", "words"), [
    ({"urll": "redis://h"}, "store.urll", "unknown key"),
    ({"lock_ttl": "ten"}, "store.lock_ttl", "wrong type"),
    ({"encryption_key": "literal-key-value"}, "store.encryption_key", "references"),
    ({"lock_ttl": 0}, "store.lock_ttl", "must be more than 0"),
    ({"url": "http://h:6379"}, "store.url", "redis://"),
    ({"key_prefix": "a b"}, "store.key_prefix", "without spaces or braces"),
])
def test_bad_store_options_name_the_key(host: PluginHost, store: dict[str, Any], key: str,
                                        words: str) -> None:
    with pytest.raises(ProfileError) as info:
        resolve_profile(double_profile("redis://127.0.0.1:6379/0", **store), host)
    assert info.value.key == key
    assert words in str(info.value)


def test_a_password_in_a_literal_url_is_refused_without_being_shown(host: PluginHost) -> None:
    password = "hunter2-" + secrets.token_hex(8)
    with pytest.raises(ProfileError) as info:
        resolve_profile(double_profile(f"redis://fleet:{password}@10.0.0.5:6379/0"), host)
    assert info.value.key == "store.url"
    assert password not in str(info.value)
    assert "secret reference" in str(info.value)
    assert 'url = { env = "REDIS_URL" }' in str(info.value)


def test_locations_never_show_credentials() -> None:
    assert safe_location("redis://u:pw-123456@host.internal:6380/3") == "redis://host.internal:6380/3"
    assert safe_location("rediss://host") == "rediss://host:6379/0"
    assert safe_location("unix:///run/redis.sock") == "unix:///run/redis.sock"
    assert safe_location("redis://[::1]:7000") == "redis://[::1]:7000/0"


def test_keys_are_per_profile_and_identity_and_unambiguous() -> None:
    names = key_names("brokerauth", TokenKey("desk-a", "default"))
    assert names.token == "brokerauth:{desk-a:default}:token"
    assert names.lock == "brokerauth:{desk-a:default}:lock"
    assert names.fence == "brokerauth:{desk-a:default}:fence"
    # A ':' or brace inside a name cannot make two keys collide or change the hash slot.
    one = key_names("p", TokenKey("a:b", "c"))
    two = key_names("p", TokenKey("a", "b:c"))
    assert one.token != two.token
    assert key_names("p", TokenKey("{x}", "y")).token == "p:{%7Bx%7D:y}:token"
    with pytest.raises(StoreError):
        key_names("p", TokenKey("", "y"))


# -- load, store, delete -------------------------------------------------------------------


def test_store_load_delete_round_trip(plugin: RedisPlugin, options: RedisStoreOptions,
                                      key: TokenKey) -> None:
    assert plugin.load_token("redis", key, options) is None
    token = make_token()
    plugin.store_token("redis", key, token, options)
    loaded = plugin.load_token("redis", key, options)
    assert loaded == token
    assert loaded is not None
    assert dict(loaded.extra) == {"client": "c-1"}
    other = TokenKey("fleet", "user-2")
    assert plugin.load_token("redis", other, options) is None
    assert plugin.delete_token("redis", key, options) is True
    assert plugin.load_token("redis", key, options) is None
    assert plugin.delete_token("redis", key, options) is False


def test_in_clear_the_entry_is_the_token_files_json(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    token = make_token()
    plugin.store_token("redis", key, token, options)
    with redis_server.client() as client:
        entry = client.hgetall("brokerauth:{fleet:default}:token")
    data = json.loads(entry[b"v"])
    assert data["version"] == 1
    assert data["access_token"] == token.access_token


def test_key_prefix_separates_fleets(plugin: RedisPlugin, redis_server: RedisServer,
                                     key: TokenKey) -> None:
    desk_a = RedisStoreOptions(url=redis_server.url, key_prefix="desk-a")
    desk_b = RedisStoreOptions(url=redis_server.url, key_prefix="desk-b")
    plugin.store_token("redis", key, make_token(), desk_a)
    assert plugin.load_token("redis", key, desk_b) is None


def test_a_damaged_entry_is_a_clear_error_naming_it(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    with redis_server.client() as client:
        client.hset("brokerauth:{fleet:default}:token", "v", b'{"access_token": "x-secret-x"')
    with pytest.raises(CorruptStoreError) as info:
        plugin.load_token("redis", key, options)
    text = str(info.value)
    assert "brokerauth:{fleet:default}:token" in text
    assert f"127.0.0.1:{redis_server.port}" in text
    assert "brokerauth logout fleet" in text
    assert "x-secret-x" not in text


def test_a_key_of_the_wrong_type_is_a_store_error(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    with redis_server.client() as client:
        client.set("brokerauth:{fleet:default}:token", "something else's value")
    with pytest.raises(StoreError, match="WRONGTYPE") as info:
        plugin.load_token("redis", key, options)
    assert "key_prefix" in (info.value.hint or "")


# -- the lock ------------------------------------------------------------------------------


def _lock(plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey,
          timeout: float) -> Any:
    lock = plugin.lock_token("redis", key, options, timeout)
    assert lock is not None
    return lock


def test_the_lock_excludes_others_until_released(plugin: RedisPlugin,
                                                 options: RedisStoreOptions,
                                                 key: TokenKey) -> None:
    other = RedisPlugin()  # another process, as far as Redis can tell
    try:
        with _lock(plugin, options, key, 0) as held:
            assert held is True
            with _lock(other, options, key, 0) as second:
                assert second is False
            started = time.monotonic()
            with _lock(other, options, key, 0.2) as second:
                assert second is False
            assert 0.18 <= time.monotonic() - started < 1.0
            with _lock(plugin, options, TokenKey("fleet", "user-2"), 0) as unrelated:
                assert unrelated is True
        with _lock(other, options, key, 0) as after:
            assert after is True
    finally:
        other.close()


def test_a_waiter_gets_the_lock_moments_after_release(plugin: RedisPlugin,
                                                      options: RedisStoreOptions,
                                                      key: TokenKey) -> None:
    other = RedisPlugin()
    got: list[float] = []

    def wait() -> None:
        with _lock(other, options, key, 5) as held:
            got.append(time.monotonic())
            assert held

    try:
        with _lock(plugin, options, key, 0):
            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.2)
            assert not got
            released_at = time.monotonic()
        waiter.join(timeout=5)
    finally:
        other.close()
    assert got
    assert got[0] - released_at < 0.25  # polls every 5-50 ms


def test_a_live_holder_keeps_the_lock_past_its_ttl(
    plugin: RedisPlugin, redis_server: RedisServer, key: TokenKey
) -> None:
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=0.5)
    other = RedisPlugin()
    try:
        with _lock(plugin, options, key, 0):
            deadline = time.monotonic() + 1.5  # three leases
            while time.monotonic() < deadline:
                with _lock(other, options, key, 0) as stolen:
                    assert stolen is False
                time.sleep(0.05)
        with _lock(other, options, key, 0) as after:
            assert after is True
    finally:
        other.close()


def test_the_lock_is_free_again_after_its_ttl_if_never_renewed(
    plugin: RedisPlugin, redis_server: RedisServer, key: TokenKey
) -> None:
    """What a killed holder leaves: the lease alone (here written by hand)."""
    options = RedisStoreOptions(url=redis_server.url, lock_ttl=0.3)
    with redis_server.client() as client:
        client.set("brokerauth:{fleet:default}:lock", "dead-holder:7", px=300)
    started = time.monotonic()
    with _lock(plugin, options, key, 2) as held:
        waited = time.monotonic() - started
        assert held is True
    assert 0.2 < waited < 1.0


# -- fencing -------------------------------------------------------------------------------


def _lapse(redis_server: RedisServer) -> None:
    """What a holder frozen past its lease finds: its lease gone."""
    with redis_server.client() as client:
        client.delete("brokerauth:{fleet:default}:lock")


def _in_thread(function: Any) -> Any:
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(function())
        except Exception as exc:
            result.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=10)
    return result[0]


def test_a_lapsed_holder_cannot_overwrite_a_newer_holders_token(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    late, newer = make_token("late"), make_token("newer")
    with _lock(plugin, options, key, 0) as held:
        assert held
        _lapse(redis_server)

        def newer_holder() -> bool:
            # Another thread is another holder: it has its own context.
            with _lock(plugin, options, key, 0) as again:
                plugin.store_token("redis", key, newer, options)
                return bool(again)

        assert _in_thread(newer_holder) is True
        with pytest.raises(StaleWriteError) as info:
            plugin.store_token("redis", key, late, options)
    assert "newer token" in str(info.value)
    assert "lock_ttl" in (info.value.hint or "")
    assert plugin.load_token("redis", key, options) == newer


def test_a_lapsed_holder_still_stores_when_nobody_wrote_since(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey, redis_server: RedisServer
) -> None:
    """Its refresh may have rotated the refresh token: dropping its token would log the
    whole fleet out, so only a newer write beats it."""
    token = make_token()
    with _lock(plugin, options, key, 0):
        _lapse(redis_server)
        def holder_that_fails() -> bool:
            with _lock(plugin, options, key, 0) as again:
                return bool(again)

        # A newer holder came and went without writing (its refresh failed).
        assert _in_thread(holder_that_fails) is True
        plugin.store_token("redis", key, token, options)
    assert plugin.load_token("redis", key, options) == token


def test_writes_outside_the_lock_are_last_writer_wins(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey
) -> None:
    first, second = make_token("first"), make_token("second")
    with _lock(plugin, options, key, 0):
        plugin.store_token("redis", key, first, options)
    plugin.store_token("redis", key, second, options)
    assert plugin.load_token("redis", key, options) == second


def test_a_logout_beats_a_refresh_still_running(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey
) -> None:
    plugin.store_token("redis", key, make_token(), options)
    with _lock(plugin, options, key, 0):
        assert _in_thread(lambda: plugin.delete_token("redis", key, options)) is True
        with pytest.raises(StaleWriteError):
            plugin.store_token("redis", key, make_token("resurrected"), options)
    assert plugin.load_token("redis", key, options) is None


# -- Redis unreachable, with a password ----------------------------------------------------


def test_an_unreachable_server_is_a_store_error_that_says_what_to_do(
    plugin: RedisPlugin, key: TokenKey
) -> None:
    from redis_helpers import free_port

    options = RedisStoreOptions(url=f"redis://127.0.0.1:{free_port()}/0")
    for call in (
        lambda: plugin.load_token("redis", key, options),
        lambda: plugin.store_token("redis", key, make_token(), options),
        lambda: plugin.delete_token("redis", key, options),
        lambda: _lock(plugin, options, key, 5).__enter__(),
    ):
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            call()
        assert time.monotonic() - started < 1.0, "an outage must not make callers wait"
        assert "Redis at redis://127.0.0.1:" in str(info.value)
        assert "ConnectionError" in str(info.value)
        assert "reachable" in (info.value.hint or "")


def test_a_password_protected_redis_through_a_secret_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin: RedisPlugin, key: TokenKey
) -> None:
    password = "pw-" + secrets.token_hex(12)
    server = RedisServer(tmp_path / "redis-auth", extra_args=("--requirepass", password))
    server.start()
    try:
        monkeypatch.setenv("FLEET_REDIS_URL", f"redis://:{password}@127.0.0.1:{server.port}/1")
        options = RedisStoreOptions(url=Secret(env="FLEET_REDIS_URL"))
        token = make_token()
        plugin.store_token("redis", key, token, options)
        assert plugin.load_token("redis", key, options) == token
        assert password not in repr(plugin.store_for(options))
        assert password not in repr(options)
        # Without the password: a clear refusal that never shows the one expected.
        bare = RedisStoreOptions(url=f"redis://127.0.0.1:{server.port}/1")
        with pytest.raises(StoreError) as info:
            plugin.load_token("redis", key, bare)
        assert "password" in (info.value.hint or "")
        assert password not in str(info.value)
        wrong = RedisStoreOptions(url=Secret.from_value(
            f"redis://:wrong-{password[:6]}x@127.0.0.1:{server.port}/1"))
        with pytest.raises(StoreError) as info:
            plugin.load_token("redis", key, wrong)
        assert "password" in (info.value.hint or "")
    finally:
        server.stop()


def test_a_bad_secret_url_is_a_config_error(plugin: RedisPlugin, key: TokenKey) -> None:
    options = RedisStoreOptions(url=Secret.from_value("http://user:pw-abcdef123@h/0"))
    with pytest.raises(ConfigError, match="must start with redis://") as info:
        plugin.load_token("redis", key, options)
    assert "pw-abcdef123" not in str(info.value)


def test_wrong_options_type_is_a_config_error(plugin: RedisPlugin, key: TokenKey) -> None:
    with pytest.raises(ConfigError, match="RedisStoreOptions"):
        plugin.load_token("redis", key, {"url": "redis://h"})
