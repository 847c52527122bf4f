"""A logout sticks: a session of another process (here, another session on the same store)
that still holds the token in memory does not bring it back when the token comes due for a
refresh. The store is the record; a token gone from it is logged out."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.errors import LoginRequiredError


@pytest.mark.parametrize("window", ["mandatory", "advisory"])
def test_a_session_holding_the_token_does_not_undo_a_logout(
    double: Any, session_factory: Any, manual_clock: Any, window: str
) -> None:
    holder = session_factory(double)
    assert holder.get("/api/me").status == 200
    other = session_factory(double)
    # Without revocation (a broker that has none, or `logout --no-revoke`): the refresh
    # token would still work, so only the store says the user logged out.
    other.logout(revoke=False)
    assert other.binding.load() is None
    # Due for a refresh: inside the mandatory window, or the advisory one (where a failed
    # refresh is only news and the valid token is used).
    manual_clock.advance(double.token_lifetime - (30 if window == "mandatory" else 200))
    with pytest.raises(LoginRequiredError):
        holder.get("/api/me")
    assert double.refresh_calls == 0
    assert holder.binding.load() is None  # still logged out


@pytest.mark.parametrize("user", [None, "alice"])
def test_the_hint_names_the_identity_that_must_log_in(
    double: Any, session_factory: Any, manual_clock: Any, user: str | None
) -> None:
    holder = session_factory(double, user=user)
    assert holder.get("/api/me").status == 200
    session_factory(double, user=user).logout(revoke=False)
    manual_clock.advance(double.token_lifetime - 30)
    with pytest.raises(LoginRequiredError) as caught:
        holder.get("/api/me")
    expected = "brokerauth login test" + ("" if user is None else f" --user {user}")
    assert f"`{expected}`" in (caught.value.hint or "")
