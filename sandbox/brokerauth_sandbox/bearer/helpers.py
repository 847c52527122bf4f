"""What the store plugins' tests do with the bearer double, in one place: tokens of its broker,
profiles over it, the fleet check (many processes or threads on one expired token: exactly
one refresh, no refused grant, the rotated token stored and valid), and a waiter on another
holder's store lock (:func:`while_locked`, :class:`Told`).

The double must be installed (:func:`brokerauth_sandbox.bearer.installed`, or the pytest
plugin's ``bearer_double_installed`` fixture) for the sessions these helpers open.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from brokerauth.contract.tokens import Token

from brokerauth_sandbox.bearer import BROKER

if TYPE_CHECKING:
    from brokerauth.engine.profiles import Profile
    from brokerauth.engine.sessions import Session

    from brokerauth_sandbox.bearer.sandbox import BearerDoubleSandbox

__all__ = ["Told", "check_one_refresh", "expired_everywhere", "make_token", "profile_over",
           "race_sessions", "token_fields", "while_locked"]

T = TypeVar("T")


def make_token(label: str = "t", **changes: Any) -> Token:
    """A fresh, valid-looking token of the bearer double's broker with random secrets;
    ``changes`` replace its fields."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "access_token": f"{label}-{secrets.token_urlsafe(16)}",
        "refresh_token": f"{label}-refresh-{secrets.token_urlsafe(16)}",
        "broker": BROKER,
        "issued_at": now,
        "expires_at": now + timedelta(hours=1),
        "extra": {"client": "c-1"},
    }
    fields.update(changes)
    return Token(**fields)


def token_fields(token: Token) -> dict[str, Any]:
    """What crosses to a spawned process (``Token.extra`` is a read-only mapping pickle
    refuses): ``Token(**token_fields(token))`` there."""
    return {name: getattr(token, name) for name in
            ("access_token", "refresh_token", "broker", "issued_at", "expires_at")}


def profile_over(double: BearerDoubleSandbox, store: Any, name: str = "fleet") -> Profile:
    """Profile ``name`` of the bearer double's broker, pointed at ``double``, with ``store``
    (a profile's ``store`` value)."""
    from brokerauth.engine.profiles import Profile

    return Profile.from_mapping(name, {"broker": BROKER, **double.profile_settings(),
                                       "store": store})


def expired_everywhere(profile: Profile, double: BearerDoubleSandbox) -> Token:
    """Log in once on ``profile``, then make that token expired for everyone: in the store and
    on the server; returns it (the token a fleet then has to refresh)."""
    import brokerauth

    with brokerauth.session(profile) as first:
        assert first.get("/api/me").ok
        token = first.token
        assert token is not None
        first.binding.save(token.replace(expires_at=token.issued_at))
    double.expire_access_tokens()
    return token


def check_one_refresh(profile: Profile, double: BearerDoubleSandbox, expired: Token) -> Token:
    """Assert what a fleet on ``expired`` (see :func:`expired_everywhere`) must leave: one
    refresh at the server, no refused grant, and in the store a new token whose refresh
    token's family is alive; returns the stored token."""
    import brokerauth

    assert double.refresh_calls == 1, f"{double.refresh_calls} refreshes, not 1"
    assert double.invalid_grants == 0
    with brokerauth.session(profile) as last:
        stored = last.binding.load()
    assert stored is not None
    assert stored.access_token != expired.access_token
    assert stored.refresh_token is not None
    assert double.family_valid(stored.refresh_token)
    return stored


def race_sessions(sessions: Sequence[Session], threads: int, path: str = "/api/me") -> list[int]:
    """``threads`` threads per session, released at once, each sending one GET of ``path``;
    the statuses, in the order they came back.  Every thread is joined (each request ends
    within its session's deadline)."""
    statuses: list[int] = []
    barrier = threading.Barrier(threads * len(sessions))

    def work(session: Session) -> None:
        barrier.wait()
        statuses.append(session.get(path).status)

    workers = [threading.Thread(target=work, args=(session,)) for session in sessions
               for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


class Told:
    """An interaction that keeps what it is told (``said``), for a flow that needs no person:
    a URL to open or a countdown fails the test."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, message: str) -> None:
        self.said.append(message)

    def open_url(self, url: str) -> None:
        raise AssertionError("no URL to open")

    def waiting(self, message: str, *, deadline: Any = None) -> Any:
        raise AssertionError("no countdown here")

    def check_lock_notice(self, label: str, seconds_left: int) -> None:
        """Assert that the one thing told was the core's notice of a long wait for another
        holder's lock, naming ``label`` and the seconds of ``lock_timeout`` left."""
        (message,) = self.said
        assert label in message, message
        assert "held elsewhere" in message, message
        assert f"waiting up to {seconds_left} s more" in message, message


#: How long the holder of :func:`while_locked` lets the waiter start waiting on the lock.
SETTLE = 0.3


def while_locked(holder: Session, call: Callable[[], T], *,
                 during: Callable[[], object] = lambda: None, until_served: bool = False,
                 within: float = 10.0) -> T:
    """What ``call()`` (a waiter's request, on another session) returns when made while a
    thread holds ``holder``'s store lock, as another process's refresh or login would.

    The holder takes the lock, leaves the waiter :data:`SETTLE` seconds to be waiting on it,
    runs ``during`` (store a token, move the waiter's clock), then lets go; with
    ``until_served`` it keeps the lock until ``call`` has returned, and this asserts that it
    did so before the release: the waiter took what the holder stored without queueing for
    the lock."""
    locked, returned = threading.Event(), threading.Event()
    held_until_served: list[bool] = []
    problems: list[BaseException] = []

    def hold() -> None:
        try:
            with holder.binding.lock(within) as held:
                assert held, "the holder did not get the lock"
                locked.set()
                time.sleep(SETTLE)
                during()
                if until_served:
                    held_until_served.append(returned.wait(within))
        except BaseException as exc:  # reported by the caller's thread
            problems.append(exc)
            locked.set()

    thread = threading.Thread(target=hold, name="lock-holder")
    thread.start()
    try:
        assert locked.wait(within), "the holder did not get the lock in time"
        if problems:
            raise problems[0]
        result = call()
    finally:
        returned.set()
        thread.join(within + 5)
    assert not thread.is_alive(), "the holder never let go"
    if problems:
        raise problems[0]
    if until_served:
        assert held_until_served == [True], "the waiter was served only once the lock was free"
    return result
