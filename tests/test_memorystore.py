"""The ``memory`` store: per instance, thread-safe, with a per-key lock."""

from __future__ import annotations

import threading
import time

from brokerauth.builtin.memorystore import MemoryStore
from brokerauth.contract.tokens import Token, TokenKey

KEY = TokenKey("prod", "alice")
ACCESS = "canary-access-9e8d"


def make_token(n: int = 0) -> Token:
    return Token(f"{ACCESS}-{n}", "webull", refresh_token=f"canary-refresh-{n}")


def test_roundtrip_overwrite_and_delete():
    store = MemoryStore()
    assert store.load(KEY) is None
    assert store.delete(KEY) is False
    store.save(KEY, make_token(1))
    store.save(KEY, make_token(2))
    assert store.load(KEY) == make_token(2)
    assert store.keys() == [KEY]
    assert store.delete(KEY) is True
    assert store.load(KEY) is None
    assert store.keys() == []


def test_instances_do_not_share_tokens():
    first, second = MemoryStore(), MemoryStore()
    first.save(KEY, make_token())
    assert second.load(KEY) is None


def test_repr_shows_no_token():
    store = MemoryStore()
    store.save(KEY, make_token())
    assert ACCESS not in repr(store)
    assert "canary-refresh" not in repr(store)


def test_lock_timeout_0_is_false_while_held_and_not_reentrant():
    store = MemoryStore()
    with store.lock(KEY, 0) as first:
        assert first is True
        with store.lock(KEY, 0) as again:
            assert again is False
        seen: list[bool] = []

        def other() -> None:
            with store.lock(KEY, 0) as got:
                seen.append(got)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert seen == [False]
        with store.lock(TokenKey("prod", "bob"), 0) as other_key:
            assert other_key is True
    with store.lock(KEY, 0) as after:
        assert after is True


def test_lock_waits_up_to_its_timeout_and_is_handed_over():
    store = MemoryStore()
    with store.lock(KEY, 0):
        start = time.monotonic()
        with store.lock(KEY, 0.1) as got:
            assert got is False
        assert time.monotonic() - start >= 0.09

    release = threading.Event()
    holding = threading.Event()

    def holder() -> None:
        with store.lock(KEY, 0):
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(5)
    threading.Timer(0.05, release.set).start()
    with store.lock(KEY, -1) as got:  # negative: wait as long as it takes
        assert got is True
    thread.join()


def test_lock_is_released_when_the_body_raises():
    store = MemoryStore()
    try:
        with store.lock(KEY, 0):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with store.lock(KEY, 0) as got:
        assert got is True


def test_concurrent_use_from_many_threads():
    store = MemoryStore()
    inside = 0
    overlaps = 0
    guard = threading.Lock()

    def worker(n: int) -> None:
        nonlocal inside, overlaps
        key = TokenKey("prod", f"user{n % 4}")
        for i in range(50):
            store.save(key, make_token(i))
            assert store.load(key) is not None
            with store.lock(KEY, 5) as got:
                assert got
                with guard:
                    inside += 1
                    overlaps += inside > 1
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == 0
    assert len(store.keys()) == 4
