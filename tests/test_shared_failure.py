"""A failed refresh is single-flight too (QUALITY item 24): one call at the server per failure,
however many threads and processes need the token, then a back-off that grows."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import brokerauth
import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import AuthenticationError, LoginRequiredError, RefreshError
from brokerauth.engine import failures
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.fleet import run_fleet


def _expire(session: Any, double: Any) -> None:
    token = session.token
    session.binding.save(token.replace(expires_at=token.issued_at))
    session.tokens.forget()
    double.expire_access_tokens()


def _all_at_once(session: Any, threads: int) -> list[BaseException | int]:
    outcomes: list[BaseException | int] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def call() -> None:
        start.wait(timeout=10)
        try:
            outcome: BaseException | int = session.get("/api/me").status
        except Exception as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("store", ["file", "memory"])
def test_a_dead_refresh_token_costs_one_call_for_16_threads(
    double: Any, session_factory: Any, store: str
) -> None:
    session = session_factory(double, store=store)
    _expire(session, double)
    double.kill_refresh_tokens()
    double.refresh_delay = 0.05  # the others are waiting while the one call is made
    outcomes = _all_at_once(session, 16)
    assert len(outcomes) == 16
    assert all(isinstance(o, LoginRequiredError) for o in outcomes), outcomes
    assert double.refresh_calls == 1
    # and later callers, too, are told at once
    with pytest.raises(LoginRequiredError) as caught:
        session.get("/api/me")
    assert "brokerauth login" in (caught.value.hint or "")
    assert double.refresh_calls == 1


@pytest.mark.parametrize("threads", [16])
def test_a_dead_refresh_token_costs_one_call_for_4_processes(
    sandbox_factory: Any, token_home: Path, threads: int
) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    profile = Profile.from_mapping("fleet", {"broker": "double", **double.profile_settings()})
    first = brokerauth.session(profile)
    assert first.get("/api/me").ok
    _expire(first, double)
    double.kill_refresh_tokens()
    double.refresh_delay = 0.1
    outcomes = run_fleet(profile, path="/api/me", processes=4, threads=threads,
                         env={"BROKERAUTH_HOME": str(token_home)})
    assert len(outcomes) == 4 * threads
    assert all(o.startswith(("LoginRequiredError", "AuthorizationError")) for o in outcomes), {
        o.split(":")[0] for o in outcomes}
    assert double.refresh_calls == 1


def test_a_passing_failure_waits_for_a_back_off_that_grows(
    double: Any, double_session: Any, manual_clock: Any
) -> None:
    _expire(double_session, double)
    double.fail_refresh = [503, 503]
    with pytest.raises(RefreshError):
        double_session.get("/api/me")
    assert double.refresh_calls == 1
    manual_clock.advance(failures.backoff(1) - 0.5)
    with pytest.raises(RefreshError) as caught:
        double_session.get("/api/me")
    assert "next try after" in str(caught.value)
    assert double.refresh_calls == 1
    manual_clock.advance(0.5)
    with pytest.raises(RefreshError):
        double_session.get("/api/me")  # tried again, failed again: the back-off doubles
    assert double.refresh_calls == 2
    assert failures.backoff(2) == 2 * failures.backoff(1)
    manual_clock.advance(failures.backoff(2) - 0.5)
    with pytest.raises(RefreshError):
        double_session.get("/api/me")
    assert double.refresh_calls == 2
    manual_clock.advance(0.5)
    assert double_session.get("/api/me").status == 200
    assert double.refresh_calls == 3
    assert failures.failure_of(double_session.binding.load()) is None  # success clears it


def test_another_process_adopts_the_recorded_failure(
    double: Any, session_factory: Any
) -> None:
    one = session_factory(double, name="shared")
    _expire(one, double)
    double.fail_refresh = [503]
    with pytest.raises(RefreshError):
        one.get("/api/me")
    # A second session on the same store: another process, as far as the manager knows.
    two = session_factory(double, name="shared")
    with pytest.raises(RefreshError) as caught:
        two.get("/api/me")
    assert "1 time in a row" in str(caught.value)
    assert double.refresh_calls == 1


def test_an_explicit_refresh_tries_at_once(double: Any, double_session: Any) -> None:
    _expire(double_session, double)
    double.fail_refresh = [503]
    with pytest.raises(RefreshError):
        double_session.get("/api/me")
    assert double_session.refresh() is not None  # `brokerauth refresh`: a person asked
    assert double.refresh_calls == 2
    assert double_session.get("/api/me").status == 200


def test_a_login_clears_a_dead_grant(double: Any, double_session: Any) -> None:
    _expire(double_session, double)
    double.kill_refresh_tokens()
    with pytest.raises(LoginRequiredError):
        double_session.get("/api/me")
    double_session.login()
    assert failures.failure_of(double_session.binding.load()) is None
    assert double_session.get("/api/me").status == 200


@pytest.mark.parametrize("refusal", [
    LoginRequiredError("the refresh token was refused", hint="run `brokerauth login desk`"),
    AuthenticationError("the credential was revoked", status=401, code="revoked",
                        hint="create new credentials in the portal, then update $DESK_TOKEN"),
], ids=["refused refresh token", "revoked credential"])
def test_every_caller_adopting_a_refusal_gets_the_tryer_s_exit_code_and_fix(
    refusal: Any
) -> None:
    """The process that tried and each one that adopts its recorded outcome must agree: a
    cron job reading one exit code, a person reading one fix."""
    from datetime import UTC, datetime

    from brokerauth.cli import exit_code_of
    from brokerauth.contract.tokens import Token

    now = datetime(2026, 12, 2, tzinfo=UTC)
    token = failures.record(Token(access_token="a", broker="double"), refusal, now)
    failure = failures.failure_of(token)
    assert failure is not None and failure.kind == failures.DEAD
    adopted = failure.error("desk/default", "brokerauth login desk")
    tried = RefreshError("desk/default: refreshing the token failed")
    tried.__cause__ = refusal
    assert exit_code_of(adopted) == exit_code_of(tried) == 3
    assert adopted.hint == refusal.hint
