"""Waiters on a lock are released within ``lock_timeout`` (QUALITY 22): while one thread
refreshes slowly, every other thread of the process waits on the token manager's thread lock at
most that long, then gets a typed :class:`RefreshError` naming the profile; the refreshing
thread still completes.  The test double's sandbox holds each refresh open for
``refresh_delay`` real seconds.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from brokerauth.contract.errors import BrokerAuthError, RefreshError
from brokerauth_sandbox.bearer.helpers import Told, while_locked

LOCK_TIMEOUT = 0.3
#: How long the sandbox holds the refresh: well over LOCK_TIMEOUT.
HELD = 1.2
#: Scheduling slack on a busy two-core machine.
MARGIN = 0.5


def _race(calls: list[Any]) -> list[tuple[str, float, Any]]:
    """Run each call in its own thread, all released at once: (outcome, seconds, detail)."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, float, Any]] = [("not finished", 0.0, None)] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        start = time.monotonic()
        try:
            detail = calls[i]()
            results[i] = ("ok", time.monotonic() - start, detail)
        except BrokerAuthError as exc:
            results[i] = (type(exc).__name__, time.monotonic() - start, str(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HELD + 10)
    return results


@pytest.mark.parametrize("waiter", ["request", "refresh"])
def test_waiters_get_a_typed_error_within_lock_timeout_and_the_refresher_completes(
    double: Any, session_factory: Any, manual_clock: Any, waiter: str
) -> None:
    api = session_factory(double, name="desk", lock_timeout=LOCK_TIMEOUT)
    old = api.token
    manual_clock.advance(double.token_lifetime + 1)  # expired: every caller needs the refresh
    double.refresh_delay = HELD

    def request() -> int:
        return int(api.get("/api/me").status)

    def refresh() -> int:
        return 200 if api.refresh() is not None else 0

    results = _race([request if waiter == "request" else refresh for _ in range(8)])
    done = [r for r in results if r[0] == "ok"]
    released = [r for r in results if r[0] != "ok"]
    assert [r[2] for r in done] == [200], results
    assert done[0][1] >= HELD * 0.9
    assert len(released) == 7, results
    for outcome, seconds, text in released:
        assert outcome == RefreshError.__name__, text
        assert seconds < LOCK_TIMEOUT + MARGIN, seconds
        assert text.startswith("desk/default: another thread of this process has been "
                               f"refreshing (or logging in) for {LOCK_TIMEOUT:g} s")
    assert double.refresh_calls == 1
    assert api.token.access_token != old.access_token


def test_once_the_refresh_is_done_the_next_callers_use_its_token(
    double: Any, session_factory: Any, manual_clock: Any
) -> None:
    api = session_factory(double, lock_timeout=LOCK_TIMEOUT)
    api.token
    manual_clock.advance(double.token_lifetime + 1)
    double.refresh_delay = HELD
    _race([lambda: api.get("/api/me").status for _ in range(4)])
    double.refresh_delay = 0
    assert [api.get("/api/me").status for _ in range(3)] == [200] * 3
    assert double.refresh_calls == 1


@pytest.mark.parametrize("needs", ["a refresh", "a first token"])
@pytest.mark.parametrize("held_for", [0.0, 3.0], ids=["a moment", "long"])
def test_a_long_wait_for_another_process_s_lock_is_told_once(
    double: Any, session_factory: Any, manual_clock: Any, held_for: float, needs: str
) -> None:
    """A refresh holds the store lock for milliseconds: a wait of seconds is a login or a
    stuck process elsewhere, and the person is told what the command is waiting for rather
    than left with a silent terminal; a short wait says nothing."""
    holder = session_factory(double, name="desk")
    told = Told()
    waiter = session_factory(double, name="desk", interaction=told)
    if needs == "a refresh":
        assert waiter.get("/api/me").status == 200
        manual_clock.advance(double.token_lifetime + 1)  # expired: the waiter needs the lock

    def wait_of(seconds: float) -> None:
        manual_clock.advance(seconds)  # the wait's length, as the waiter's clock reads it
        time.sleep(0.2)  # ...and its lock checks see that before the release

    # Refreshed (or obtained) once the lock was free.
    assert while_locked(holder, lambda: waiter.get("/api/me").status,
                        during=lambda: wait_of(held_for)) == 200
    if not held_for:
        assert told.said == []
        return
    told.check_lock_notice("desk/default", 27)  # lock_timeout 30 s, 3 s waited


class Deaf(Told):
    """An interaction whose output is gone (stderr a closed pipe)."""

    def say(self, message: str) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_notice_that_cannot_be_told_does_not_fail_the_wait(
    double: Any, session_factory: Any, manual_clock: Any
) -> None:
    holder = session_factory(double, name="desk")
    waiter = session_factory(double, name="desk", interaction=Deaf())

    def long_wait() -> None:
        manual_clock.advance(3.0)
        time.sleep(0.2)

    assert while_locked(holder, lambda: waiter.get("/api/me").status, during=long_wait) == 200


def test_a_first_token_stored_by_the_lock_holder_is_taken_without_waiting_for_its_release(
    double: Any, session_factory: Any
) -> None:
    """Another process's login stores the token and goes on holding the lock (its notices,
    a slow disk): a process waiting to obtain one takes it as soon as it is stored."""
    holder = session_factory(double, name="desk")
    waiter = session_factory(double, name="desk")
    token = session_factory(double, name="elsewhere").tokens.current()  # a valid token
    assert token is not None
    assert while_locked(holder, waiter.tokens.current, during=lambda: holder.binding.save(token),
                        until_served=True) == token
    assert double.count("POST", "/oauth/token") <= 1  # only "elsewhere" obtained one
