"""Advisory and mandatory refresh windows, and what happens when the refresh fails."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.errors import LoginRequiredError, RefreshError
from brokerauth.engine import failures

# The test double's tokens live 600 s: advisory window from 300 s before expiry, mandatory
# from 60 s.


def test_fresh_token_is_used_without_refreshing(double: Any, double_session: Any,
                                                manual_clock: Any) -> None:
    token = double_session.token
    manual_clock.advance(299)
    assert double_session.token is token
    assert double.refresh_calls == 0


def test_advisory_window_refreshes_once(double: Any, double_session: Any,
                                        manual_clock: Any) -> None:
    old = double_session.token
    manual_clock.advance(400)
    new = double_session.token
    assert new.access_token != old.access_token
    assert double.refresh_calls == 1
    assert double_session.token is new


def test_failed_refresh_in_advisory_window_is_not_the_callers_error(
    double: Any, double_session: Any, manual_clock: Any, caplog: Any
) -> None:
    old = double_session.token
    manual_clock.advance(400)
    double.fail_refresh = [503]
    response = double_session.get("/api/me")
    assert response.status == 200
    assert double.seen_tokens[-1] == old.access_token
    assert double.refresh_calls == 1
    assert "early refresh failed" in caplog.text


def test_failed_refresh_in_mandatory_window_is_a_typed_error(
    double: Any, double_session: Any, manual_clock: Any
) -> None:
    double_session.token
    manual_clock.advance(560)
    double.fail_refresh = [503]
    with pytest.raises(RefreshError, match="refreshing the token failed"):
        double_session.get("/api/me")
    assert double.count("GET", "/api/me") == 0


def test_an_expired_token_is_never_sent(double: Any, double_session: Any,
                                        manual_clock: Any) -> None:
    double_session.token
    manual_clock.advance(700)
    double.fail_refresh = [503, 503]
    for _ in range(2):
        with pytest.raises(RefreshError):
            double_session.get("/api/me")
    assert double.count("GET", "/api/me") == 0


def test_refresh_recovers_after_the_server_does(double: Any, double_session: Any,
                                                manual_clock: Any) -> None:
    double_session.token
    manual_clock.advance(700)
    double.fail_refresh = [503]
    with pytest.raises(RefreshError):
        double_session.get("/api/me")
    # Inside the back-off the failure is shared, not tried again; after it, recovery.
    with pytest.raises(RefreshError):
        double_session.get("/api/me")
    assert double.refresh_calls == 1
    manual_clock.advance(failures.backoff(1))
    assert double_session.get("/api/me").status == 200
    assert double.refresh_calls == 2


def test_rotated_refresh_token_is_stored_and_the_old_one_dies(
    double: Any, double_session: Any, manual_clock: Any
) -> None:
    first = double_session.token
    manual_clock.advance(700)
    second = double_session.token
    assert second.refresh_token != first.refresh_token
    assert double_session.binding.load() == second
    assert double.family_valid(second.refresh_token)


def test_invalid_grant_rereads_the_store_once_then_asks_for_login(
    double: Any, double_session: Any, manual_clock: Any
) -> None:
    token = double_session.token
    # Another tool, outside our store and lock, uses the refresh token first.
    double._refresh_grant(token.refresh_token)
    manual_clock.advance(700)
    with pytest.raises(LoginRequiredError, match="refused the refresh token") as info:
        double_session.get("/api/me")
    assert "brokerauth login" in str(info.value)
    assert double.refresh_calls == 2  # the other tool's, and ours: no loop
    assert double.count("GET", "/api/me") == 0


def test_login_replaces_the_stored_token(double: Any, double_session: Any) -> None:
    first = double_session.token
    second = double_session.login()
    assert second.access_token != first.access_token
    assert double_session.binding.load() == second


def test_logout_revokes_then_forgets_the_token(double: Any, double_session: Any) -> None:
    token = double_session.token
    result = double_session.logout()
    assert result.removed is True
    assert result.revoked is True
    assert double_session.binding.load() is None
    assert not double.family_valid(token.refresh_token)
    assert double_session.logout().removed is False


def test_logout_deletes_even_when_revocation_fails(double: Any, double_session: Any) -> None:
    double_session.token
    double.fail_revoke = 503
    result = double_session.logout()
    assert result.removed is True
    assert result.revoked is None
    assert result.problem is not None
    assert double_session.binding.load() is None


def test_failed_early_refresh_is_retried_after_a_pause_not_every_request(
    double: Any, double_session: Any, manual_clock: Any
) -> None:
    double_session.token
    manual_clock.advance(400)
    double.fail_refresh = [503, 503, 503]
    for _ in range(5):
        assert double_session.get("/api/me").status == 200
    assert double.refresh_calls == 1
    manual_clock.advance(31)
    assert double_session.get("/api/me").status == 200
    assert double.refresh_calls == 2
