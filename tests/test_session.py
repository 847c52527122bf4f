"""The session over real HTTP against the test double's sandbox: refresh, resend, retry, skew."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from brokerauth.contract.clock import SystemClock
from brokerauth.contract.errors import AuthenticationError, TransportError
from brokerauth.engine.profiles import Profile
from brokerauth_sandbox.fleet import run_fleet


def test_request_is_signed_and_carries_the_token(double: Any, double_session: Any) -> None:
    response = double_session.get("/api/me")
    assert response.status == 200
    assert response.json()["generation"] == 1
    assert double.seen_tokens[-1] == double_session.token.access_token


def test_64_threads_on_an_expired_token_refresh_once(double: Any, double_session: Any,
                                                     manual_clock: Any) -> None:
    assert double_session.get("/api/me").ok
    manual_clock.advance(double.token_lifetime + 1)
    double.refresh_delay = 0.05  # keep the refresh in flight while the others arrive
    barrier = threading.Barrier(64)
    statuses: list[int] = []

    def call() -> None:
        barrier.wait()
        statuses.append(double_session.get("/api/me").status)

    threads = [threading.Thread(target=call) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 64
    assert double.refresh_calls == 1
    assert double.invalid_grants == 0


def test_401_invalid_token_refreshes_once_and_resends(double: Any, double_session: Any) -> None:
    assert double_session.get("/api/me").ok
    old = double_session.token
    double.expire_access_tokens()  # the server forgets the token before its announced expiry
    response = double_session.get("/api/me")
    assert response.status == 200
    assert double.refresh_calls == 1
    assert double.count("GET", "/api/me") == 3
    assert double.seen_tokens[-2:] == [old.access_token, double_session.token.access_token]


def test_second_401_after_refresh_is_an_error_not_a_loop(double: Any, double_session: Any,
                                                         monkeypatch: Any) -> None:
    assert double_session.get("/api/me").ok
    monkeypatch.setattr(type(double), "_bearer", lambda self, request: (None, None))
    with pytest.raises(AuthenticationError) as info:
        double_session.get("/api/me")
    assert double.refresh_calls == 1
    assert "brokerauth login" in str(info.value)


def test_post_is_never_retried_after_a_connection_error(double: Any, double_session: Any) -> None:
    assert double_session.get("/api/me").ok
    double.drop_flaky = 1
    with pytest.raises(TransportError):
        double_session.post("/api/flaky", json={"symbol": "AAPL", "qty": 1})
    assert double.count("POST", "/api/flaky") == 1


def test_get_is_retried_and_each_attempt_signed_anew(double: Any, double_session: Any) -> None:
    double.drop_flaky = 2
    assert double_session.get("/api/flaky").status == 200
    assert double.count("GET", "/api/flaky") == 3
    assert len(set(double.flaky_nonces)) == 3


def test_get_gives_up_after_its_retries(double: Any, double_session: Any) -> None:
    double.drop_flaky = 10
    with pytest.raises(TransportError):
        double_session.get("/api/flaky")
    assert double.count("GET", "/api/flaky") == 3


def test_clock_skew_is_learned_from_date_and_costs_one_rejection(double: Any,
                                                                 double_session: Any) -> None:
    double.clock_offset = 400  # the server's clock runs 400 s ahead; its window is 300 s
    assert double_session.get("/api/me").status == 200
    rejected_first = double.count("POST", "/oauth/token")
    assert double_session.get("/api/me").status == 200
    assert double_session.get("/api/me").status == 200
    assert double.count("POST", "/oauth/token") == rejected_first
    # one rejected token request, then every request accepted
    assert rejected_first == 2
    assert double.count("GET", "/api/me") == 3


def test_revoked_credential_is_a_clear_error_without_refresh(double: Any,
                                                             double_session: Any) -> None:
    assert double_session.get("/api/me").ok
    double.revoke_all()
    with pytest.raises(AuthenticationError, match="revoked"):
        double_session.get("/api/me")
    assert double.refresh_calls == 0


def test_error_answers_are_returned_and_raise_typed_errors(double: Any,
                                                           double_session: Any) -> None:
    response = double_session.get("/api/unknown")
    assert response.status == 404
    with pytest.raises(Exception, match="no route") as info:
        response.raise_for_status()
    assert info.type.__name__ == "BrokerError"


@pytest.mark.parametrize("threads", [8, 16])
def test_4_processes_share_one_refresh(sandbox_factory: Any, token_home: Any, tmp_path: Any,
                                       threads: int) -> None:
    double = sandbox_factory("double", clock=SystemClock())
    double.refresh_delay = 0.1
    profile = Profile.from_mapping("fleet", {"broker": "double", **double.profile_settings()})
    import brokerauth

    first = brokerauth.session(profile)
    assert first.get("/api/me").ok
    token = first.token
    # Expire it for every process: in the store and on the server.
    first.binding.save(token.replace(expires_at=token.issued_at))
    double.expire_access_tokens()

    statuses = run_fleet(profile, path="/api/me", processes=4, threads=threads,
                         env={"BROKERAUTH_HOME": str(token_home)})
    assert statuses == ["200"] * (4 * threads)
    assert double.refresh_calls == 1
    assert double.invalid_grants == 0
    assert double.family_valid(first.binding.load().refresh_token)
