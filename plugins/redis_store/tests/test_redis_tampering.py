"""Someone with write access to Redis but without the encryption key: each attack the sealed
generation and fence defend against, played with a plain redis client against a real server.

What such a person can still do, and these tests do not pretend otherwise: delete the entry
or the lock (a login, or a refresh token, is lost), and show a process that never saw the
newer value a complete older copy of the hash (see
``test_a_complete_old_copy_fools_only_a_process_that_never_saw_newer``).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from brokerauth.contract.tokens import Token, TokenKey
from brokerauth.toolkit.envelope import (
    ENCRYPTED_MARK,
    LEGACY_MARK,
    ForgedEntryError,
    ReplayedEntryError,
)
from brokerauth.toolkit.secrets import Secret
from brokerauth_redis.options import RedisStoreOptions
from brokerauth_redis.plugin import RedisPlugin
from brokerauth_redis.store import StaleWriteError
from cryptography.fernet import Fernet
from redis_helpers import RedisServer, make_token

ENTRY = "brokerauth:{fleet:default}:token"
COUNTER = "brokerauth:{fleet:default}:fence"
LOCK = "brokerauth:{fleet:default}:lock"


@pytest.fixture
def encrypted(redis_server: RedisServer, fernet_key: str) -> RedisStoreOptions:
    return RedisStoreOptions(url=redis_server.url,
                             encryption_key=Secret(env="BROKERAUTH_TEST_REDIS_KEY"))


@pytest.fixture
def attacker(redis_server: RedisServer) -> Any:
    client = redis_server.client()
    yield client
    client.close()


def sealed_header(value: bytes, fernet_key: str) -> dict[str, Any]:
    plain = Fernet(fernet_key).decrypt(value[len(ENCRYPTED_MARK):])
    header: dict[str, Any] = json.loads(plain.partition(b"\n")[0])
    return header


def lock_of(plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey,
            timeout: float = 0) -> Any:
    lock = plugin.lock_token("redis", key, options, timeout)
    assert lock is not None
    return lock


def in_thread(function: Any) -> Any:
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


def assert_no_secret(text: str, *tokens: Token) -> None:
    for token in tokens:
        assert token.access_token not in text
        assert token.refresh_token is None or token.refresh_token not in text


# -- what is sealed ------------------------------------------------------------------------


def test_each_write_seals_a_larger_generation_and_the_writers_fence(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
    fernet_key: str,
) -> None:
    plugin.store_token("redis", key, make_token("one"), encrypted)
    first = attacker.hgetall(ENTRY)
    with lock_of(plugin, encrypted, key) as held:
        assert held
        plugin.store_token("redis", key, make_token("two"), encrypted)
    second = attacker.hgetall(ENTRY)
    one, two = sealed_header(first[b"v"], fernet_key), sealed_header(second[b"v"], fernet_key)
    assert one["entry"] == two["entry"] == ENTRY
    assert two["g"] > one["g"]
    assert two["f"] == int(attacker.get(COUNTER)) == 1  # the holder's fence
    for entry, header in ((first, one), (second, two)):
        assert int(entry[b"g"]) == header["g"]
        assert int(entry[b"f"]) == header["f"]


# -- replay --------------------------------------------------------------------------------


def test_an_older_value_put_back_is_refused_as_replayed(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    """The whole hash of an older token (value, generation and fence copies) is put back: a
    process that has seen the newer one refuses it, and a new login repairs the entry."""
    old, new = make_token("old"), make_token("new")
    plugin.store_token("redis", key, old, encrypted)
    snapshot = attacker.hgetall(ENTRY)
    plugin.store_token("redis", key, new, encrypted)
    assert plugin.load_token("redis", key, encrypted) == new
    attacker.hset(ENTRY, mapping=snapshot)
    with pytest.raises(ReplayedEntryError) as info:
        plugin.load_token("redis", key, encrypted)
    text = f"{info.value} {info.value.hint}"
    assert "older value of this entry put back" in text
    assert "already read or written" in text
    assert "brokerauth logout fleet" in text
    assert_no_secret(text, old, new)
    # The way out: a new login (a write) replaces it; a logout removes it.
    newest = make_token("newest")
    with lock_of(plugin, encrypted, key):
        plugin.store_token("redis", key, newest, encrypted)
    assert plugin.load_token("redis", key, encrypted) == newest
    attacker.hset(ENTRY, mapping=snapshot)
    assert plugin.delete_token("redis", key, encrypted) is True
    assert plugin.load_token("redis", key, encrypted) is None


def test_an_older_value_under_the_newer_generation_record_is_refused_by_any_process(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    """Only ``v`` put back: the entry's clear generation record says a newer value was
    written, so even a process that never read the entry refuses it."""
    plugin.store_token("redis", key, make_token("old"), encrypted)
    old_value = attacker.hget(ENTRY, "v")
    plugin.store_token("redis", key, make_token("new"), encrypted)
    attacker.hset(ENTRY, "v", old_value)
    fresh = RedisPlugin()  # another process
    try:
        with pytest.raises(ReplayedEntryError, match=r"generation record \(g\)"):
            fresh.load_token("redis", key, encrypted)
    finally:
        fresh.close()


def test_an_older_logout_record_put_back_is_refused(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    plugin.store_token("redis", key, make_token("first"), encrypted)
    assert plugin.delete_token("redis", key, encrypted) is True
    logged_out = attacker.hgetall(ENTRY)
    assert b"v" in logged_out  # a sealed logout record, not a bare field
    token = make_token("again")
    with lock_of(plugin, encrypted, key):
        plugin.store_token("redis", key, token, encrypted)
    attacker.hset(ENTRY, mapping=logged_out)
    with pytest.raises(ReplayedEntryError):
        plugin.load_token("redis", key, encrypted)


def test_a_complete_old_copy_fools_only_a_process_that_never_saw_newer(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    """The limit, stated as a test: Redis holds nothing an attacker cannot roll back with the
    value, so a new process shown a complete older copy takes it (and the next write
    replaces it; a rotated refresh token in it is refused by the broker)."""
    old = make_token("old")
    plugin.store_token("redis", key, old, encrypted)
    snapshot = attacker.hgetall(ENTRY)
    plugin.store_token("redis", key, make_token("new"), encrypted)
    attacker.hset(ENTRY, mapping=snapshot)
    fresh = RedisPlugin()
    try:
        assert fresh.load_token("redis", key, encrypted) == old
    finally:
        fresh.close()
    with pytest.raises(ReplayedEntryError):
        plugin.load_token("redis", key, encrypted)


def test_a_legacy_envelope_is_read_once_and_refused_when_put_back(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
    fernet_key: str,
) -> None:
    """An entry written by the previous version (``fernet1:``, nothing sealed but the token)
    is read, so a fleet upgrades without a login; after the first new write, putting it back
    is a downgrade, and refused."""
    from brokerauth.toolkit.tokencodec import encode_token

    old = make_token("legacy")
    legacy = LEGACY_MARK + Fernet(fernet_key).encrypt(
        json.dumps(["fleet", "default"]).encode() + b"\n" + encode_token(old))
    attacker.hset(ENTRY, mapping={"v": legacy, "f": 3})
    assert plugin.load_token("redis", key, encrypted) == old
    with lock_of(plugin, encrypted, key):
        plugin.store_token("redis", key, make_token("new"), encrypted)
    assert attacker.hget(ENTRY, "v").startswith(ENCRYPTED_MARK)
    attacker.hset(ENTRY, "v", legacy)
    with pytest.raises(ReplayedEntryError, match="older fernet1 envelope"):
        plugin.load_token("redis", key, encrypted)
    attacker.hdel(ENTRY, "g")  # and for a process that never saw the new value
    with pytest.raises(ReplayedEntryError):
        plugin.load_token("redis", key, encrypted)


def test_a_new_login_after_redis_lost_its_data_is_not_taken_for_a_replay(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    """Generations follow the clock when it is ahead, so the first value after a restart
    without persistence is above what a long-running process saw: no false alarm."""
    plugin.store_token("redis", key, make_token("before"), encrypted)
    for _ in range(3):
        plugin.store_token("redis", key, make_token("more"), encrypted)
    assert plugin.load_token("redis", key, encrypted) is not None
    attacker.flushall()
    other = RedisPlugin()
    try:
        after = make_token("after")
        with lock_of(other, encrypted, key):
            other.store_token("redis", key, after, encrypted)
    finally:
        other.close()
    assert plugin.load_token("redis", key, encrypted) == after


# -- forged fences -------------------------------------------------------------------------


def test_a_raised_fence_cannot_block_the_holders_write(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
    fernet_key: str,
) -> None:
    """The clear fence and the counter raised while a refresh runs: its write still goes in
    (a refusal here would lose a refresh token the broker has already rotated)."""
    plugin.store_token("redis", key, make_token("old"), encrypted)
    refreshed = make_token("refreshed")
    with lock_of(plugin, encrypted, key) as held:
        assert held
        attacker.hset(ENTRY, "f", 10**12)
        attacker.set(COUNTER, 10**12)
        plugin.store_token("redis", key, refreshed, encrypted)
    assert plugin.load_token("redis", key, encrypted) == refreshed
    entry = attacker.hgetall(ENTRY)
    assert int(entry[b"f"]) == sealed_header(entry[b"v"], fernet_key)["f"] == 1


def test_a_changed_clear_fence_is_put_back_with_a_warning(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = make_token()
    with lock_of(plugin, encrypted, key):
        plugin.store_token("redis", key, token, encrypted)
    attacker.hset(ENTRY, "f", 999)
    with caplog.at_level(logging.WARNING, logger="brokerauth.store.redis"):
        assert plugin.load_token("redis", key, encrypted) == token
    assert any("a tampered fence" in r.getMessage() for r in caplog.records)
    assert attacker.hget(ENTRY, "f") == b"1"


def test_a_lowered_fence_counter_cannot_block_the_next_holder(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A counter reset by hand would hand out fences below the entry's: every refresh would
    end in a StaleWriteError after the broker rotated the refresh token."""
    for round_ in range(3):
        with lock_of(plugin, encrypted, key):
            plugin.store_token("redis", key, make_token(f"r{round_}"), encrypted)
    attacker.delete(COUNTER)
    other = RedisPlugin()  # another process takes the lock next
    refreshed = make_token("refreshed")
    try:
        with caplog.at_level(logging.WARNING, logger="brokerauth.store.redis"), \
                lock_of(other, encrypted, key) as held:
            assert held
            other.store_token("redis", key, refreshed, encrypted)
    finally:
        other.close()
    assert plugin.load_token("redis", key, encrypted) == refreshed
    assert int(attacker.get(COUNTER)) > 3
    assert any("lowered or removed it" in r.getMessage() for r in caplog.records)


def test_a_lowered_fence_cannot_let_a_lapsed_holder_overwrite_a_newer_token(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    late, newer = make_token("late"), make_token("newer")
    with lock_of(plugin, encrypted, key) as held:
        assert held
        attacker.delete(LOCK)  # the lease lapses

        def newer_holder() -> bool:
            with lock_of(plugin, encrypted, key) as again:
                plugin.store_token("redis", key, newer, encrypted)
                return bool(again)

        assert in_thread(newer_holder) is True
        attacker.hset(ENTRY, "f", 0)
        attacker.set(COUNTER, 0)
        with pytest.raises(StaleWriteError):
            plugin.store_token("redis", key, late, encrypted)
    assert plugin.load_token("redis", key, encrypted) == newer


def test_a_lowered_fence_after_a_logout_cannot_bring_the_token_back(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    plugin.store_token("redis", key, make_token(), encrypted)
    with lock_of(plugin, encrypted, key):
        assert in_thread(lambda: plugin.delete_token("redis", key, encrypted)) is True
        attacker.hset(ENTRY, "f", 0)
        attacker.delete(COUNTER)
        with pytest.raises(StaleWriteError):
            plugin.store_token("redis", key, make_token("resurrected"), encrypted)
    assert plugin.load_token("redis", key, encrypted) is None


# -- forged entries ------------------------------------------------------------------------


def test_an_entry_copied_to_another_fleets_key_prefix_is_refused(
    plugin: RedisPlugin, redis_server: RedisServer, key: TokenKey, attacker: Any,
    fernet_key: str,
) -> None:
    """Two fleets sharing a server and a key, same profile name: desk-a's token (another
    broker account) must not become desk-b's."""
    def fleet(prefix: str) -> RedisStoreOptions:
        return RedisStoreOptions(url=redis_server.url, key_prefix=prefix,
                                 encryption_key=Secret(env="BROKERAUTH_TEST_REDIS_KEY"))

    plugin.store_token("redis", key, make_token("desk-a"), fleet("desk-a"))
    attacker.hset("desk-b:{fleet:default}:token",
                  mapping=attacker.hgetall("desk-a:{fleet:default}:token"))
    with pytest.raises(ForgedEntryError, match="another profile or identity"):
        plugin.load_token("redis", key, fleet("desk-b"))


def test_an_entry_planted_in_clear_is_refused_as_forged(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    from brokerauth.toolkit.tokencodec import encode_token

    attacker.hset(ENTRY, mapping={"v": encode_token(make_token("planted")), "g": 1, "f": 0})
    with pytest.raises(ForgedEntryError, match="not encrypted"):
        plugin.load_token("redis", key, encrypted)


# -- without a key -------------------------------------------------------------------------


def test_without_a_key_the_fields_are_kept_but_nothing_is_refused(
    plugin: RedisPlugin, options: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    """In clear there is nothing to authenticate: an older value put back is read as it is
    (the guarantees above need an encryption_key), and writes go on as before."""
    old = make_token("old")
    plugin.store_token("redis", key, old, options)
    snapshot = attacker.hgetall(ENTRY)
    with lock_of(plugin, options, key):
        plugin.store_token("redis", key, make_token("new"), options)
    entry = attacker.hgetall(ENTRY)
    assert int(entry[b"g"]) > int(snapshot[b"g"])
    assert entry[b"f"] == b"1"
    attacker.hset(ENTRY, mapping=snapshot)
    assert plugin.load_token("redis", key, options) == old


def test_a_raised_counter_cannot_turn_a_write_outside_the_lock_against_the_holder(
    plugin: RedisPlugin, encrypted: RedisStoreOptions, key: TokenKey, attacker: Any,
) -> None:
    """A write outside the lock counts as new as the current holder, not as the counter
    says: a counter raised by hand would otherwise make the holder's write refused."""
    refreshed = make_token("refreshed")
    other = RedisPlugin()
    try:
        with lock_of(plugin, encrypted, key) as held:
            assert held
            attacker.set(COUNTER, 10**12)
            other.store_token("redis", key, make_token("outside"), encrypted)
            plugin.store_token("redis", key, refreshed, encrypted)
    finally:
        other.close()
    assert plugin.load_token("redis", key, encrypted) == refreshed
