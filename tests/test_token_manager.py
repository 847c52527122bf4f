"""The token manager's decisions, with an in-memory token source (no network involved)."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from brokerauth.contract.errors import StaleTokenError
from brokerauth.contract.tokens import Token
from brokerauth.engine.refresh import TokenManager
from brokerauth_sandbox.clock import ManualClock


class Source:
    label = "p/default"
    login_command = "brokerauth login p"

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.stored: Token | None = self.token("t0")
        self.refreshes = 0
        self.refuse_next_save_with: Token | None = None

    def token(self, name: str) -> Token:
        now = self.clock.now()
        return Token(access_token=name, refresh_token=f"r-{name}", broker="x", issued_at=now,
                     expires_at=now + timedelta(seconds=600))

    def load(self) -> Token | None:
        return self.stored

    def save(self, token: Token) -> None:
        if self.refuse_next_save_with is not None:
            # Another holder stored a newer token while our lease had lapsed.
            self.stored, self.refuse_next_save_with = self.refuse_next_save_with, None
            raise StaleTokenError("a newer token was stored")
        self.stored = token

    def lock(self, timeout: float) -> Any:
        return nullcontext(True)

    def acquire(self, stored: Token | None) -> Token | None:
        return self.token("acquired")

    def refresh(self, token: Token) -> Token | None:
        self.refreshes += 1
        return self.token(f"t{self.refreshes}")


def test_a_refused_stale_write_adopts_the_newer_token() -> None:
    clock = ManualClock()
    source = Source(clock)
    manager = TokenManager(source, clock)
    assert manager.current().access_token == "t0"
    clock.advance(601)
    source.refuse_next_save_with = source.token("newer-from-elsewhere")
    assert manager.current().access_token == "newer-from-elsewhere"
    assert source.stored.access_token == "newer-from-elsewhere"


class CountingClock(ManualClock):
    """A manual clock that counts each thread's reads, so a test knows how far a caller got
    (``current()`` reads it once before the lock and once more before waiting for a refresh)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: dict[int, int] = {}
        self.read = threading.Condition()

    def now(self) -> datetime:
        with self.read:
            ident = threading.get_ident()
            self.reads[ident] = self.reads.get(ident, 0) + 1
            self.read.notify_all()
        return super().now()


class SlowSource(Source):
    """A refresh that blocks until let go, then a notifier that blocks until let go."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.refreshing, self.refresh_may_end = threading.Event(), threading.Event()
        self.noticing, self.notice_may_end = threading.Event(), threading.Event()
        self.notices: list[str] = []

    def refresh(self, token: Token) -> Token | None:
        self.refreshing.set()
        assert self.refresh_may_end.wait(10)
        return super().refresh(token)

    def notice(self, kind: str, token: Token, message: str) -> None:
        self.notices.append(kind)
        self.noticing.set()
        assert self.notice_may_end.wait(10)


def test_threads_waiting_for_a_refresh_are_served_when_it_lands_not_after_its_notice() -> None:
    """The other threads of a process waiting for its refresh get the new token the moment it
    is set, all at once: not one after another through the manager's lock, and not after the
    notifier the refreshing thread calls next (which may take seconds)."""
    clock = CountingClock()
    source = SlowSource(clock)
    manager = TokenManager(source, clock)
    assert manager.current().access_token == "t0"
    clock.advance(601)  # expired: every caller must wait for the refresh
    got: dict[str, str] = {}

    def call(name: str) -> None:
        token = manager.current()
        assert token is not None
        got[name] = token.access_token

    refresher = threading.Thread(target=call, args=("refresher",))
    refresher.start()
    assert source.refreshing.wait(10)
    waiters = [threading.Thread(target=call, args=(f"w{n}",)) for n in range(7)]
    for waiter in waiters:
        waiter.start()
    with clock.read:  # each waiter has read the clock twice: it is waiting for the refresh
        assert clock.read.wait_for(
            lambda: all(clock.reads.get(w.ident or 0, 0) >= 2 for w in waiters), 10)
    source.refresh_may_end.set()
    try:
        assert source.noticing.wait(10)
        for waiter in waiters:
            waiter.join(10)
        assert not any(waiter.is_alive() for waiter in waiters), "waited for the notice"
        assert got == {f"w{n}": "t1" for n in range(7)}
    finally:
        source.notice_may_end.set()
        refresher.join(10)
    assert got["refresher"] == "t1"
    assert source.refreshes == 1
    assert source.notices == ["refreshed"]
