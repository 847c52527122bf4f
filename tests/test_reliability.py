"""Reliability guarantees (README, Guarantees) that the core provides for every broker, proved
against the example broker's sandbox over loopback."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from brokerauth.contract.errors import BrokerAuthError, RefreshError
from brokerauth.contract.tokens import Token
from brokerauth.engine import failures


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (200, "application/json", b"not json at all"),
        (200, "application/json", b""),
        (200, "application/json", b"{}"),
        (200, "application/json", b'{"access_token": 5, "expires_in": 600}'),
        (200, "application/json", b'{"access_token": "ok", "expires_in": "soon"}'),
        (200, "application/json", b'{"access_token": "has space", "expires_in": 600}'),
        (200, "application/json", b'{"access_token": "ok", "expires_in": 600'),
        (502, "text/html", b"<html><body>Bad gateway</body></html>"),
        (200, "application/json", b'{"access_token": "' + b"a" * (10 << 20) + b'"}'),
    ],
    ids=["non-json", "empty", "empty-object", "wrong-type", "bad-expiry", "bad-token",
         "truncated", "html", "10MB"],
)
def test_a_bad_token_answer_is_never_stored(double: Any, double_session: Any, manual_clock: Any,
                                            status: int, content_type: str, body: bytes) -> None:
    good = double_session.token
    manual_clock.advance(double.token_lifetime + 1)
    double.bad_refresh_answers = [(status, content_type, body)]
    with pytest.raises(RefreshError) as info:
        double_session.get("/api/me")
    assert len(str(info.value)) < 500
    assert double_session.binding.load() == good
    assert double.count("GET", "/api/me") == 0
    # and the next attempt after the back-off, with a sane server, recovers
    manual_clock.advance(failures.backoff(1))
    assert double_session.get("/api/me").status == 200


def test_20_threads_never_send_a_mix_of_token_generations(double: Any, double_session: Any,
                                                          manual_clock: Any) -> None:
    """The test double signs the token it carries, so a request whose signature and token came
    from two generations is refused by the sandbox."""
    double_session.token
    # The test jumps the shared clock by minutes while requests are in flight; a wide window
    # keeps those jumps from reading as clock skew.
    double.timestamp_window = 3600
    stop = threading.Event()
    failures: list[str] = []
    sent = [0]
    lock = threading.Lock()

    def caller() -> None:
        while not stop.is_set():
            try:
                response = double_session.get("/api/me")
            except BrokerAuthError as exc:
                failures.append(type(exc).__name__)
                continue
            with lock:
                sent[0] += 1
            if response.status != 200:
                failures.append(response.text)

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(10):  # ten refreshes while the callers run
            before = double_session.tokens.peek()
            manual_clock.advance(double.token_lifetime - 30)
            deadline = time.monotonic() + 20
            # Wait for the client to hold the new token, not just for the server to count
            # the refresh: the next jump must not land while the answer is being read.
            while double_session.tokens.peek() is before and not failures:
                assert time.monotonic() < deadline, "no refresh happened"
                threading.Event().wait(0.005)
    finally:
        stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert double.refresh_calls == 10
    assert sent[0] > 20


def _nonces(count: int, out: Any) -> None:
    from brokerauth.engine.binding import new_nonce

    out.put([new_nonce() for _ in range(count)])


def test_a_million_nonces_across_forked_processes_are_unique() -> None:
    from brokerauth.engine.binding import new_nonce

    new_nonce()  # the parent draws first, so children inherit any state it has
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_nonces, args=(250_000, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    seen: set[str] = set()
    total = 0
    for _ in workers:
        batch = queue.get(timeout=120)
        total += len(batch)
        seen.update(batch)
    for worker in workers:
        worker.join()
    assert total == 1_000_000
    assert len(seen) == total
    assert all(len(n) == 32 for n in list(seen)[:10])  # 128 bits, hex


def test_corrupt_store_gives_a_clear_error_and_logout_is_the_way_out(
    double: Any, double_session: Any, token_home: Path
) -> None:
    double_session.token
    from brokerauth.builtin.filestore import token_path

    path = token_path(double_session.binding.key, None)
    path.write_bytes(b"{ torn")
    fresh = type(double_session)(double_session.binding, double_session.options)
    with pytest.raises(BrokerAuthError) as info:
        fresh.get("/api/me")
    text = str(info.value)
    assert str(path) in text
    assert "logout" in text or "delete" in text
    assert fresh.logout().removed is True
    assert fresh.get("/api/me").status == 200


def test_secrets_never_reach_reprs(double: Any, double_session: Any) -> None:
    token: Token = double_session.token
    for text in (repr(token), str(token), repr(double_session),
                 repr(double_session.binding.settings), repr(double_session.binding.resolved)):
        assert token.access_token not in text
        assert token.refresh_token not in text
        assert double.client_secret not in text


def test_fresh_token_read_takes_no_lock(double_session: Any, monkeypatch: Any) -> None:
    double_session.token
    manager = double_session.tokens

    class Refusing:
        def acquire(self, *args: Any) -> bool:
            raise AssertionError("the fast path took the lock")

        __enter__ = acquire

        def __exit__(self, *args: Any) -> None:
            return None

    monkeypatch.setattr(manager, "_lock", Refusing())
    for _ in range(1000):
        assert manager.current() is not None


def test_nonce_has_128_random_bits() -> None:
    from brokerauth.engine.binding import new_nonce

    assert len(bytes.fromhex(new_nonce())) == 16


def test_a_lock_holder_killed_mid_refresh_frees_the_lock_within_a_second(
    sandbox_factory: Any, token_home: Path
) -> None:
    import os
    import signal

    from brokerauth.contract.clock import SystemClock
    from brokerauth.engine.profiles import Profile

    double = sandbox_factory("double", clock=SystemClock())
    profile = Profile.from_mapping("killed", {"broker": "double", **double.profile_settings()})
    import brokerauth

    session = brokerauth.session(profile)
    token = session.token
    session.binding.save(token.replace(expires_at=token.issued_at))
    double.expire_access_tokens()
    double.refresh_delay = 30.0  # the child's refresh hangs while it holds the lock

    from _workers import refresh_forever

    child = multiprocessing.get_context("spawn").Process(
        target=refresh_forever, args=(profile, str(token_home)))
    child.start()
    deadline = time.monotonic() + 30
    while double.refresh_calls == 0:
        assert time.monotonic() < deadline, "the child never started its refresh"
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    double.refresh_delay = 0.0
    fresh = type(session)(session.binding, session.options)  # a new process's view
    fresh.tokens.forget()
    started = time.monotonic()
    assert fresh.get("/api/me").status == 200
    assert time.monotonic() - started < 1.0
