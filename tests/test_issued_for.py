"""A stored token is sent only to the origin it was issued for (QUALITY item 27): a profile
changed, or planted, to point elsewhere does not get it."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.errors import LoginRequiredError
from brokerauth.contract.tokens import ISSUED_FOR


def _moved(sandbox_factory: Any, session_factory: Any, manual_clock: Any) -> tuple[Any, ...]:
    """Profile ``desk`` logged in at one server, then the same name pointing at another (its
    keys copied, so only the origin differs): (first, other, the first session, the moved
    one)."""
    first = sandbox_factory("double", clock=manual_clock)
    other = sandbox_factory("double", clock=manual_clock)
    session = session_factory(first, name="desk")
    assert session.get("/api/me").status == 200
    assert session.binding.load().extra[ISSUED_FOR] == first.base_url
    moved = session_factory(other, name="desk", base_url=other.base_url,
                            client_id=first.client_id,
                            client_secret=first.profile_settings()["client_secret"])
    other.client_id, other.client_secret = first.client_id, first.client_secret
    return first, other, session, moved


def test_a_token_issued_for_one_origin_is_not_sent_to_another(
    sandbox_factory: Any, session_factory: Any, manual_clock: Any
) -> None:
    first, other, _, moved = _moved(sandbox_factory, session_factory, manual_clock)
    with pytest.raises(LoginRequiredError) as caught:
        moved.get("/api/me")
    assert first.base_url in str(caught.value) and other.base_url in str(caught.value)
    assert "brokerauth login desk" in (caught.value.hint or "")
    assert sum(other.calls.values()) == 0


def test_logout_of_a_moved_profile_deletes_without_revoking_elsewhere(
    sandbox_factory: Any, session_factory: Any, manual_clock: Any
) -> None:
    first = sandbox_factory("double", clock=manual_clock)
    other = sandbox_factory("double", clock=manual_clock)
    assert session_factory(first, name="desk").get("/api/me").status == 200
    moved = session_factory(other, name="desk")
    result = moved.logout()
    assert result.removed and result.revoked is None
    assert sum(other.calls.values()) == 0


def test_a_token_stored_before_origins_were_recorded_is_taken_and_stamped(
    double: Any, session_factory: Any, manual_clock: Any
) -> None:
    session = session_factory(double)
    assert session.get("/api/me").status == 200
    token = session.binding.load()
    old = token.replace(extra={k: v for k, v in token.extra.items() if k != ISSUED_FOR})
    session.binding.host.store_token("file", session.binding.key, old, None, owner="builtin")
    session.tokens.forget()
    assert ISSUED_FOR not in session.binding.load().extra
    assert session.get("/api/me").status == 200
    manual_clock.advance(double.token_lifetime + 1)
    assert session.get("/api/me").status == 200  # refreshed: stored again, stamped
    assert session.binding.load().extra[ISSUED_FOR] == double.base_url


def test_a_token_of_another_broker_is_refused(double: Any, session_factory: Any) -> None:
    session = session_factory(double)
    assert session.get("/api/me").status == 200
    token = session.binding.load()
    session.binding.host.store_token("file", session.binding.key,
                                     token.replace(broker="webull"), None, owner="builtin")
    session.tokens.forget()
    with pytest.raises(LoginRequiredError, match="broker 'webull'"):
        session.get("/api/me")


def test_a_login_replaces_a_token_issued_elsewhere_only_when_asked_to(
    sandbox_factory: Any, session_factory: Any, manual_clock: Any
) -> None:
    from brokerauth.contract.errors import IssuedElsewhereError

    first, other, session, moved = _moved(sandbox_factory, session_factory, manual_clock)
    old = session.binding.load(wherever_issued=True)
    with pytest.raises(IssuedElsewhereError) as caught:
        moved.login()
    assert caught.value.issued_for == first.base_url
    assert sum(other.calls.values()) == 0
    assert moved.binding.load(wherever_issued=True) == old  # kept
    token = moved.login(replace_elsewhere=True)
    assert token is not None and token.access_token != old.access_token
    assert moved.binding.load().extra[ISSUED_FOR] == other.base_url
    assert other.refresh_calls == 0 and old.access_token not in other.seen_tokens
