"""A clock 90 s off: at most one rejected request, the offset learned from the server's
``Date`` header, and every later request accepted (the README's guarantee 11)."""

from __future__ import annotations

from typing import Any

import pytest
from brokerauth.contract.errors import ClockSkewError


def test_ninety_seconds_of_skew_cost_one_rejection(webull: Any, open_session: Any) -> None:
    webull.two_factor_required = False
    webull.clock_offset = 90  # the server's clock runs 90 s ahead; its window is 60 s
    session = open_session(webull, two_factor="off")
    for _ in range(5):
        assert session.get("/openapi/account/list").status == 200
    assert sum(webull.rejections.values()) == 1
    assert round(session.binding.skew.total_seconds()) == 90


def test_skew_behind_is_learned_too(webull: Any, open_session: Any) -> None:
    webull.two_factor_required = False
    webull.clock_offset = -90
    session = open_session(webull, two_factor="off")
    assert session.get("/openapi/account/list").status == 200
    assert session.get("/openapi/account/list").status == 200
    assert sum(webull.rejections.values()) == 1


def test_a_server_clock_hours_away_is_not_adopted(
    webull: Any, open_session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``Date`` far off would let the server (or whatever answers for it) choose the time
    of every later signature; it is refused, and the user is told to set the clock."""
    webull.two_factor_required = False
    webull.clock_offset = 100 * 365 * 86400  # a century ahead
    session = open_session(webull, two_factor="off")
    with pytest.raises(ClockSkewError) as refused:
        session.get("/openapi/account/list")
    assert "clock" in (refused.value.hint or "")
    assert session.binding.skew.total_seconds() == 0
    assert any("more than the 10 minutes" in r.getMessage() and "NTP" in r.getMessage()
               for r in caplog.records)
    # Nothing was adopted: a later request is signed with this machine's own clock again.
    webull.clock_offset = 0
    assert session.get("/openapi/account/list").status == 200
