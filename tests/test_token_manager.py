"""The token manager's decisions, with an in-memory token source (no network involved)."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from typing import Any

from brokerauth.contract.errors import StaleTokenError
from brokerauth.contract.tokens import Token
from brokerauth.engine.refresh import TokenManager
from brokerauth_sandbox.clock import ManualClock


class Source:
    label = "p/default"

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
